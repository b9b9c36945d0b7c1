import { createHash } from 'node:crypto';
import { UsmpError } from '../../errors.js';
import type { ArmedRollback, CheckOutcome, QosBackend, RollbackGuard } from '../backend.js';
import { diffObjects, isEmptyDiff, type QosObject } from '../objects.js';
import type { QosPolicy } from '../policy.js';
import {
  COMMENT_PREFIX,
  desiredRouterObjects,
  firewallKind,
  MENUS,
  menuOf,
  normaliseValue,
  REMOVAL_ORDER,
  type Family,
  type MenuKind,
  type RouterInterfaces,
} from './objects.js';
import { HISTORY_DEPTH, PREVIOUS_PREFIX, ROLLBACK_NAME, rollbackScript, SCRIPT_POLICY, scriptComment } from './rollback-script.js';
import { durationMs, parseRouterDate, parseRouterDateTime } from './router-time.js';
import type { RouterItem, RouterSession } from './session.js';

// Backend `routeros`: the appliance is a LAN host and configures the site's MikroTik over the
// API. Idempotent by comment: we list what carries our comment prefix, diff it against the
// policy, and add, set or remove only the difference, so applying twice changes nothing.

const MANAGED: Record<MenuKind, string[]> = {
  'address-list': ['list', 'address'],
  mangle: [
    'chain',
    'action',
    'connection-mark',
    'new-connection-mark',
    'new-packet-mark',
    'packet-mark',
    'new-dscp',
    'passthrough',
    'src-address-list',
    'dst-address-list',
    'protocol',
    'dst-port',
    'src-port',
  ],
  filter: ['chain', 'action', 'connection-state', 'connection-mark'],
  'address-list6': ['list', 'address'],
  mangle6: [
    'chain',
    'action',
    'connection-mark',
    'new-connection-mark',
    'new-packet-mark',
    'packet-mark',
    'new-dscp',
    'passthrough',
    'src-address-list',
    'dst-address-list',
    'protocol',
    'dst-port',
    'src-port',
  ],
  filter6: ['chain', 'action', 'connection-state', 'connection-mark'],
  queue: ['name', 'parent', 'max-limit', 'packet-mark', 'priority', 'limit-at', 'queue'],
  'queue-type': ['name', 'kind'],
};

/**
 * What the account must hold [help.mikrotik.com "User" §Groups]: read and write to list and
 * change the objects, api to log in, test for the router's own /ping that confirms a change.
 */
export const REQUIRED_POLICIES = ['read', 'write', 'api', 'test'] as const;

export interface RouterOsBackendOptions {
  session: RouterSession;
  interfaces: RouterInterfaces;
  checkTarget: string;
  /** The account logged in, whose group's policies prepare() checks before anything changes. */
  username: string;
}

interface OwnedObject extends QosObject {
  id: string;
}

export class RouterOsQosBackend implements QosBackend {
  readonly name = 'routeros' as const;
  readonly #o: RouterOsBackendOptions;
  #fasttrack: Record<Family, string[]> | undefined;
  #ipv6 = true;

  constructor(options: RouterOsBackendOptions) {
    this.#o = options;
  }

  get #s(): RouterSession {
    return this.#o.session;
  }

  /**
   * Checks the account's rights, then reads whether the site FastTracks (then our flows need an
   * exclusion); call before desired(). Only static rules count: the dynamic "special dummy rule
   * to show fasttrack counters" cannot be named by place-before.
   */
  async prepare(): Promise<void> {
    await this.#checkPolicies();
    this.#ipv6 = true;
    const fasttrack = { 4: [] as string[], 6: [] as string[] };
    for (const family of [4, 6] as const) {
      const rules = await this.#print(MENUS[firewallKind('filter', family)], { '.proplist': '.id,dynamic' }, ['?action=fasttrack-connection']);
      fasttrack[family] = rules.filter((r) => !isDynamic(r)).map((r) => r['.id']!);
    }
    this.#fasttrack = fasttrack;
  }

  /**
   * A print; on a router without IPv6 the /ipv6 menus do not exist ("no such command prefix",
   * category 0 [help.mikrotik.com "API" §Trap]) and read as empty, and that is remembered.
   */
  async #print(menu: string, attributes: Record<string, string>, queries: readonly string[] = []): Promise<RouterItem[]> {
    try {
      return await this.#s.run(`${menu}/print`, attributes, queries);
    } catch (err) {
      if (menu.startsWith('/ipv6/') && err instanceof UsmpError && err.code === 'USMP_E_ROUTER_TRAP' && err.details?.category === '0') {
        this.#ipv6 = false;
        return [];
      }
      throw err;
    }
  }

  async #checkPolicies(): Promise<void> {
    const [user] = await this.#s.run('/user/print', { '.proplist': 'group' }, [`?name=${this.#o.username}`]);
    const [group] = user?.group ? await this.#s.run('/user/group/print', { '.proplist': 'policy' }, [`?name=${user.group}`]) : [];
    // A group prints its policies as a list where a refused one carries "!" (read,write,!ftp,...).
    const held = new Set((group?.policy ?? '').split(',').filter((p) => p !== '' && !p.startsWith('!')));
    const missing = REQUIRED_POLICIES.filter((p) => !held.has(p));
    if (missing.length > 0) {
      throw new UsmpError(
        'USMP_E_ROUTER_PERMISSION',
        `the router account ${this.#o.username} (group ${user?.group ?? 'unknown'}) lacks the ${missing.join(', ')} ${missing.length > 1 ? 'policies' : 'policy'}`,
        {
          hint: `on the router: /user group set ${user?.group ?? 'GROUP'} policy=${REQUIRED_POLICIES.join(',')}; nothing was changed`,
          details: { missing },
        },
      );
    }
  }

  desired(policy: QosPolicy): QosObject[] {
    if (!this.#fasttrack) throw new UsmpError('USMP_E_INTERNAL', 'RouterOsQosBackend.prepare() was not called');
    return desiredRouterObjects(policy, this.#o.interfaces, { 4: this.#fasttrack[4].length > 0, 6: this.#fasttrack[6].length > 0 }, this.#ipv6);
  }

  async #owned(): Promise<OwnedObject[]> {
    const out: OwnedObject[] = [];
    for (const kind of [...REMOVAL_ORDER].reverse()) {
      // Only the properties we compare: a site's address list may hold tens of thousands of entries.
      const items = await this.#print(MENUS[kind], { '.proplist': ['.id', 'comment', 'dynamic', ...MANAGED[kind]].join(',') });
      for (const item of items) {
        if (isDynamic(item) || !item.comment?.startsWith(COMMENT_PREFIX) || item.comment.startsWith(`${COMMENT_PREFIX}script:`)) continue;
        const props: Record<string, string> = {};
        for (const p of MANAGED[kind]) if (item[p] !== undefined && item[p] !== '') props[p] = normaliseValue(p, item[p]);
        out.push({ key: item.comment.slice(COMMENT_PREFIX.length), props, id: item['.id']! });
      }
    }
    return out;
  }

  async current(): Promise<QosObject[]> {
    return (await this.#owned()).map(({ key, props }) => ({ key, props }));
  }

  /** The site's first static mangle rule per family: ours go before it. */
  async #firstForeignMangle(): Promise<Record<Family, string | undefined>> {
    const out: Record<Family, string | undefined> = { 4: undefined, 6: undefined };
    for (const family of [4, 6] as const) {
      const rules = await this.#print(MENUS[firewallKind('mangle', family)], { '.proplist': '.id,comment,dynamic' });
      out[family] = rules.find((i) => !isDynamic(i) && !i.comment?.startsWith(COMMENT_PREFIX))?.['.id'];
    }
    return out;
  }

  async apply(policy: QosPolicy): Promise<void> {
    const desired = this.desired(policy);
    const owned = await this.#owned();
    const diff = diffObjects(desired, owned);
    const idOf = new Map(owned.map((o) => [o.key, o.id]));
    // Changes first: a leaf leaves our queue type before that type is removed.
    for (const c of diff.change) {
      const props = Object.fromEntries(c.changes.filter((x) => x.to !== undefined).map((x) => [x.prop, x.to!]));
      await this.#s.run(`${MENUS[menuOf(c.key)]}/set`, { '.id': idOf.get(c.key)!, ...props });
    }
    // Children before parents, marks before the lists they name.
    const removals = [...diff.remove].sort((a, b) => rank(a) - rank(b));
    for (const o of removals) await this.#s.run(`${MENUS[menuOf(o.key)]}/remove`, { '.id': idOf.get(o.key)! });
    const firstForeign = await this.#firstForeignMangle();
    for (const o of diff.create) {
      const kind = menuOf(o.key);
      const attrs: Record<string, string> = { ...o.props, comment: COMMENT_PREFIX + o.key };
      // Our marks must see the traffic before any site rule with passthrough=no hides it.
      const family: Family = kind.endsWith('6') ? 6 : 4;
      if ((kind === 'mangle' || kind === 'mangle6') && firstForeign[family]) attrs['place-before'] = firstForeign[family];
      if ((kind === 'filter' || kind === 'filter6') && this.#fasttrack?.[family][0]) attrs['place-before'] = this.#fasttrack[family][0];
      await this.#add(kind, attrs);
    }
  }

  async #add(kind: MenuKind, attrs: Record<string, string>): Promise<void> {
    try {
      await this.#s.run(`${MENUS[kind]}/add`, attrs);
    } catch (err) {
      // [node-routeros #26] "already have such name": a queue of ours whose comment was edited.
      if (kind === 'queue' && err instanceof UsmpError && /already have such name/.test(err.message)) {
        const [existing] = await this.#s.run('/queue/tree/print', { '.proplist': '.id' }, [`?name=${attrs.name!}`]);
        if (existing) {
          await this.#s.run('/queue/tree/set', { '.id': existing['.id']!, ...attrs });
          return;
        }
      }
      throw err;
    }
  }

  async armRollback(timeoutS: number): Promise<RollbackGuard> {
    if ((await this.#s.run('/system/scheduler/print', { '.proplist': '.id' }, [`?name=${ROLLBACK_NAME}`])).length > 0) {
      throw new UsmpError('USMP_E_QOS_CONFLICT', 'a previous change on the router is still waiting for its confirmation or its roll-back', {
        hint: 'wait for its deadline, or run `usmp-edge qos rollback --backend routeros`',
      });
    }
    const snapshot = await this.current();
    // Named after its content: the same state armed twice gives the same script.
    const armId = createHash('sha256').update(JSON.stringify(snapshot)).digest('hex').slice(0, 12);
    const firstForeign = await this.#firstForeignMangle();
    const foreignMangle = { 4: firstForeign[4] !== undefined, 6: firstForeign[6] !== undefined };
    await this.#s.run('/system/script/add', {
      name: ROLLBACK_NAME,
      source: rollbackScript(snapshot, armId, foreignMangle),
      comment: scriptComment(armId),
      policy: SCRIPT_POLICY,
    });
    await this.#s.run('/system/scheduler/add', {
      name: ROLLBACK_NAME,
      interval: `${timeoutS}s`,
      'on-event': ROLLBACK_NAME,
      policy: SCRIPT_POLICY,
      comment: `${COMMENT_PREFIX}rollback:${armId}`,
    });
    // [unverified on real routers] with no start-time the first run is one interval after
    // creation; a scheduler that already ran would mean the roll-back fired before the change.
    const [scheduler] = await this.#s.run('/system/scheduler/print', { '.proplist': '.id,run-count' }, [`?name=${ROLLBACK_NAME}`]);
    if (!scheduler || (scheduler['run-count'] ?? '0') !== '0') {
      await this.#removeByName('/system/scheduler', ROLLBACK_NAME);
      await this.#removeByName('/system/script', ROLLBACK_NAME);
      throw new UsmpError('USMP_E_QOS_APPLY_FAILED', 'the router ran the roll-back scheduler at once; nothing was changed', {
        hint: 'check the router clock and scheduler; report this router version',
      });
    }
    const deadline = new Date(Date.now() + timeoutS * 1000);
    const s = this.#s;
    return {
      deadline,
      disarm: async () => {
        const removed = await this.#removeByName('/system/scheduler', ROLLBACK_NAME);
        if (!removed) return false; // it fired: the script removed it
        const history = await this.#history();
        for (const old of history.slice(0, Math.max(0, history.length - HISTORY_DEPTH + 1))) await s.run('/system/script/remove', { '.id': old.id });
        const [script] = await s.run('/system/script/print', { '.proplist': '.id' }, [`?name=${ROLLBACK_NAME}`]);
        const next = (history.at(-1)?.n ?? 0) + 1;
        if (script) await s.run('/system/script/set', { '.id': script['.id']!, name: `${PREVIOUS_PREFIX}${next}` });
        return true;
      },
      fireNow: async () => {
        const [script] = await s.run('/system/script/print', { '.proplist': '.id' }, [`?name=${ROLLBACK_NAME}`]);
        if (script) await s.run('/system/script/run', { '.id': script['.id']! });
      },
    };
  }

  async #removeByName(menu: string, name: string): Promise<boolean> {
    const items = await this.#s.run(`${menu}/print`, { '.proplist': '.id' }, [`?name=${name}`]);
    for (const item of items) await this.#s.run(`${menu}/remove`, { '.id': item['.id']! });
    return items.length > 0;
  }

  async armed(): Promise<ArmedRollback | undefined> {
    const [scheduler] = await this.#s.run('/system/scheduler/print', { '.proplist': 'next-run,interval' }, [`?name=${ROLLBACK_NAME}`]);
    if (!scheduler) return undefined;
    return { deadline: new Date(Date.now() + ((await this.#untilRouterTime(scheduler['next-run'] ?? '')) ?? durationMs(scheduler.interval ?? '0s'))) };
  }

  /** How long until a date and time of the router's clock (next-run), read against that clock. */
  async #untilRouterTime(text: string): Promise<number | undefined> {
    if (!text) return undefined;
    const [clock] = await this.#s.run('/system/clock/print', { '.proplist': 'date,time' });
    const today = parseRouterDate(clock?.date ?? '');
    if (!today) return undefined;
    const now = parseRouterDateTime(clock!.time ?? '', today);
    const then = parseRouterDateTime(text, today);
    return now === undefined || then === undefined ? undefined : Math.max(0, then - now);
  }

  /** Our undo scripts, oldest first. */
  async #history(): Promise<Array<{ id: string; n: number }>> {
    const scripts = await this.#s.run('/system/script/print', { '.proplist': '.id,name' });
    return scripts
      .filter((i) => i.name?.startsWith(PREVIOUS_PREFIX))
      .map((i) => ({ id: i['.id']!, n: Number(i.name!.slice(PREVIOUS_PREFIX.length)) }))
      .sort((a, b) => a.n - b.n);
  }

  async rollbackLast(): Promise<boolean> {
    const [armed] = await this.#s.run('/system/script/print', { '.proplist': '.id' }, [`?name=${ROLLBACK_NAME}`]);
    const target = armed?.['.id'] ?? (await this.#history()).at(-1)?.id;
    if (!target) return false;
    await this.#s.run('/system/script/run', { '.id': target });
    return true;
  }

  async check(policy: QosPolicy): Promise<CheckOutcome> {
    const findings: string[] = [];
    const replies = await this.#s.run('/ping', { address: this.#o.checkTarget, count: '3' }, [], { timeoutMs: 10_000 });
    const received = Math.max(0, ...replies.map((r: RouterItem) => Number(r.received ?? 0)));
    findings.push(`router ping to ${this.#o.checkTarget}: ${received}/3 replies`);
    const diff = diffObjects(this.desired(policy), await this.current());
    findings.push(
      isEmptyDiff(diff)
        ? 'read-back: every object of the policy is in place'
        : `read-back differs: ${diff.create.length} missing, ${diff.change.length} changed, ${diff.remove.length} extra`,
    );
    const counters = await this.counters();
    const expected = 2 * (policy.classes.length + 2);
    findings.push(`queue counters readable for ${Object.keys(counters).length}/${expected} queues`);
    return { ok: received > 0 && isEmptyDiff(diff) && Object.keys(counters).length === expected, findings };
  }

  async setShapedRates(policy: QosPolicy): Promise<void> {
    const wanted = new Map(
      this.desired(policy)
        .filter((o) => /^queue:(up|down)(-best-effort)?$/.test(o.key))
        .map((o) => [o.props.name!, o.props]),
    );
    for (const item of await this.#s.run('/queue/tree/print', { '.proplist': '.id,name,comment' })) {
      const props = item.name ? wanted.get(item.name) : undefined;
      if (!props || !item.comment?.startsWith(`${COMMENT_PREFIX}queue:`)) continue;
      await this.#s.run('/queue/tree/set', {
        '.id': item['.id']!,
        'max-limit': props['max-limit']!,
        ...(props['limit-at'] ? { 'limit-at': props['limit-at'] } : {}),
      });
    }
  }

  async rootOctets(): Promise<Record<'up' | 'down', number>> {
    const out = { up: 0, down: 0 };
    for (const item of await this.#s.run('/queue/tree/print', { stats: '', '.proplist': 'name,comment,bytes' })) {
      if (item.comment === `${COMMENT_PREFIX}queue:up`) out.up = Number(item.bytes ?? 0);
      if (item.comment === `${COMMENT_PREFIX}queue:down`) out.down = Number(item.bytes ?? 0);
    }
    return out;
  }

  async counters(): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const item of await this.#s.run('/queue/tree/print', { stats: '', '.proplist': 'comment,packets' })) {
      if (!item.comment?.startsWith(`${COMMENT_PREFIX}queue:`) || item.packets === undefined) continue;
      out[item.comment.slice(`${COMMENT_PREFIX}queue:`.length)] = Number(item.packets);
    }
    return out;
  }

  async close(): Promise<void> {
    this.#s.close();
  }
}

function rank(o: QosObject): number {
  const kind = menuOf(o.key);
  const base = REMOVAL_ORDER.indexOf(kind) * 10;
  // A queue whose parent is one of ours goes before that parent.
  return kind === 'queue' && o.props.parent?.startsWith('usmp-qos-') ? base - 1 : base;
}

function isDynamic(item: RouterItem): boolean {
  return item.dynamic === 'true' || item.dynamic === 'yes';
}
