import { createHash } from 'node:crypto';
import { UsmpError } from '../../errors.js';
import type { ArmedRollback, CheckOutcome, QosBackend, RollbackGuard } from '../backend.js';
import { diffObjects, isEmptyDiff, type QosObject } from '../objects.js';
import type { QosPolicy } from '../policy.js';
import { COMMENT_PREFIX, desiredRouterObjects, MENUS, menuOf, normaliseValue, REMOVAL_ORDER, type MenuKind, type RouterInterfaces } from './objects.js';
import { HISTORY_DEPTH, PREVIOUS_PREFIX, ROLLBACK_NAME, rollbackScript, scriptComment } from './rollback-script.js';
import type { RouterItem, RouterSession } from './session.js';

// Backend `routeros`: the appliance is a LAN host and configures the site's MikroTik over the
// API. Idempotent by comment: we list what carries our comment prefix, diff it against the
// policy, and add, set or remove only the difference, so applying twice changes nothing.

const MANAGED: Record<MenuKind, string[]> = {
  'address-list': ['list', 'address'],
  mangle: ['chain', 'action', 'connection-mark', 'new-connection-mark', 'new-packet-mark', 'packet-mark', 'new-dscp', 'passthrough', 'src-address-list', 'dst-address-list', 'protocol', 'dst-port', 'src-port'],
  filter: ['chain', 'action', 'connection-state', 'connection-mark'],
  queue: ['name', 'parent', 'max-limit', 'packet-mark', 'priority', 'limit-at'],
};

export interface RouterOsBackendOptions {
  session: RouterSession;
  interfaces: RouterInterfaces;
  checkTarget: string;
}

interface OwnedObject extends QosObject {
  id: string;
}

export class RouterOsQosBackend implements QosBackend {
  readonly name = 'routeros' as const;
  readonly #o: RouterOsBackendOptions;
  #fasttrackIds: string[] | undefined;

  constructor(options: RouterOsBackendOptions) {
    this.#o = options;
  }

  get #s(): RouterSession {
    return this.#o.session;
  }

  /** Reads whether the site FastTracks (then our flows need an exclusion); call before desired(). */
  async prepare(): Promise<void> {
    this.#fasttrackIds = (await this.#s.run('/ip/firewall/filter/print', { '.proplist': '.id' }, ['?action=fasttrack-connection'])).map((i) => i['.id']!);
  }

  desired(policy: QosPolicy): QosObject[] {
    if (!this.#fasttrackIds) throw new UsmpError('USMP_E_INTERNAL', 'RouterOsQosBackend.prepare() was not called');
    return desiredRouterObjects(policy, this.#o.interfaces, this.#fasttrackIds.length > 0);
  }

  async #owned(): Promise<OwnedObject[]> {
    const out: OwnedObject[] = [];
    for (const kind of [...REMOVAL_ORDER].reverse()) {
      for (const item of await this.#s.run(`${MENUS[kind]}/print`)) {
        if (!item.comment?.startsWith(COMMENT_PREFIX) || item.comment.startsWith(`${COMMENT_PREFIX}script:`)) continue;
        const props: Record<string, string> = {};
        for (const p of MANAGED[kind]) if (item[p] !== undefined && item[p] !== '') props[p] = normaliseValue(p, item[p]!);
        out.push({ key: item.comment.slice(COMMENT_PREFIX.length), props, id: item['.id']! });
      }
    }
    return out;
  }

  async current(): Promise<QosObject[]> {
    return (await this.#owned()).map(({ key, props }) => ({ key, props }));
  }

  async apply(policy: QosPolicy): Promise<void> {
    const desired = this.desired(policy);
    const owned = await this.#owned();
    const diff = diffObjects(desired, owned);
    const idOf = new Map(owned.map((o) => [o.key, o.id]));
    // Children before parents, marks before the lists they name.
    const removals = [...diff.remove].sort((a, b) => rank(a) - rank(b));
    for (const o of removals) await this.#s.run(`${MENUS[menuOf(o.key)]}/remove`, { '.id': idOf.get(o.key)! });
    for (const c of diff.change) {
      const props = Object.fromEntries(c.changes.filter((x) => x.to !== undefined).map((x) => [x.prop, x.to!]));
      await this.#s.run(`${MENUS[menuOf(c.key)]}/set`, { '.id': idOf.get(c.key)!, ...props });
    }
    const firstForeignMangle = (await this.#s.run('/ip/firewall/mangle/print', { '.proplist': '.id,comment' })).find((i) => !i.comment?.startsWith(COMMENT_PREFIX))?.['.id'];
    for (const o of diff.create) {
      const kind = menuOf(o.key);
      const attrs: Record<string, string> = { ...o.props, comment: COMMENT_PREFIX + o.key };
      // Our marks must see the traffic before any site rule with passthrough=no hides it.
      if (kind === 'mangle' && firstForeignMangle) attrs['place-before'] = firstForeignMangle;
      if (kind === 'filter' && this.#fasttrackIds?.[0]) attrs['place-before'] = this.#fasttrackIds[0];
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
    if ((await this.#s.run('/system/scheduler/print', {}, [`?name=${ROLLBACK_NAME}`])).length > 0) {
      throw new UsmpError('USMP_E_QOS_CONFLICT', 'a previous change on the router is still waiting for its confirmation or its roll-back', { hint: 'wait for its deadline, or run `usmp-edge qos rollback --backend routeros`' });
    }
    const snapshot = await this.current();
    // Named after its content: the same state armed twice gives the same script.
    const armId = createHash('sha256').update(JSON.stringify(snapshot)).digest('hex').slice(0, 12);
    const mangle = await this.#s.run('/ip/firewall/mangle/print', { '.proplist': '.id,comment' });
    const foreignMangle = mangle.some((i) => !i.comment?.startsWith(COMMENT_PREFIX));
    await this.#s.run('/system/script/add', { name: ROLLBACK_NAME, source: rollbackScript(snapshot, armId, foreignMangle), comment: scriptComment(armId) });
    await this.#s.run('/system/scheduler/add', { name: ROLLBACK_NAME, interval: `${timeoutS}s`, 'on-event': ROLLBACK_NAME, comment: `${COMMENT_PREFIX}rollback:${armId}` });
    // [unverified on real routers] with no start-time the first run is one interval after
    // creation; a scheduler that already ran would mean the roll-back fired before the change.
    const [scheduler] = await this.#s.run('/system/scheduler/print', {}, [`?name=${ROLLBACK_NAME}`]);
    if (!scheduler || (scheduler['run-count'] ?? '0') !== '0') {
      await this.#removeByName('/system/scheduler', ROLLBACK_NAME);
      await this.#removeByName('/system/script', ROLLBACK_NAME);
      throw new UsmpError('USMP_E_QOS_APPLY_FAILED', 'the router ran the roll-back scheduler at once; nothing was changed', { hint: 'check the router clock and scheduler; report this router version' });
    }
    const deadline = new Date(Date.now() + timeoutS * 1000);
    const s = this.#s;
    const self = this;
    return {
      deadline,
      async disarm() {
        const removed = await self.#removeByName('/system/scheduler', ROLLBACK_NAME);
        if (!removed) return false; // it fired: the script removed it
        const history = await self.#history();
        for (const old of history.slice(0, Math.max(0, history.length - HISTORY_DEPTH + 1))) await s.run('/system/script/remove', { '.id': old.id });
        const [script] = await s.run('/system/script/print', { '.proplist': '.id' }, [`?name=${ROLLBACK_NAME}`]);
        const next = (history.at(-1)?.n ?? 0) + 1;
        if (script) await s.run('/system/script/set', { '.id': script['.id']!, name: `${PREVIOUS_PREFIX}${next}` });
        return true;
      },
      async fireNow() {
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
    const [scheduler] = await this.#s.run('/system/scheduler/print', {}, [`?name=${ROLLBACK_NAME}`]);
    if (!scheduler) return undefined;
    return { deadline: new Date(Date.now() + durationMs(scheduler['next-run'] ?? scheduler.interval ?? '0s')) };
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
    findings.push(isEmptyDiff(diff) ? 'read-back: every object of the policy is in place' : `read-back differs: ${diff.create.length} missing, ${diff.change.length} changed, ${diff.remove.length} extra`);
    const counters = await this.counters();
    const expected = 2 * (policy.classes.length + 2);
    findings.push(`queue counters readable for ${Object.keys(counters).length}/${expected} queues`);
    return { ok: received > 0 && isEmptyDiff(diff) && Object.keys(counters).length === expected, findings };
  }

  async counters(): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const item of await this.#s.run('/queue/tree/print', { stats: '' })) {
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

/** RouterOS durations: 1m30s, 45s, 00:01:30. */
export function durationMs(text: string): number {
  const hms = /^(\d+):(\d+):(\d+)$/.exec(text);
  if (hms) return ((Number(hms[1]) * 60 + Number(hms[2])) * 60 + Number(hms[3])) * 1000;
  let ms = 0;
  for (const m of text.matchAll(/(\d+)(w|d|h|m|s)/g)) ms += Number(m[1]) * ({ w: 604800, d: 86400, h: 3600, m: 60, s: 1 } as Record<string, number>)[m[2]!]! * 1000;
  return ms;
}
