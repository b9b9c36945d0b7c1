// The RouterOS SIMULATOR's in-memory router: the menus usmp-edge uses, with the behaviour of
// RouterOS 7 that the backend depends on. It is not RouterOS: it is a test double named as
// such (no real router can run here), and each behaviour below cites where it comes from.
//
// - ids like *1A, =ret= on add, "already have such name", queries by equality, .proplist
//   [help.mikrotik.com "API"; librouteros docs/api_analysis.rst];
// - defaults read back (priority=8, limit-at=0), rates read back with units (19M), booleans as
//   true/false [help.mikrotik.com "Queues"; terraform-provider-routeros mikrotik_serialize.go];
// - an IPv4 host read back without /32, an IPv6 one always with its length
//   [terraform-provider-routeros: IPv4 address-list read-back `"address": "0.0.0.0"`, PR #216];
// - dynamic rules the router adds itself: FastTrack's "special dummy rule to show fasttrack
//   counters" at the top of the filter [help.mikrotik.com "Common Firewall Matchers and Actions"
//   §Stats] and PPP's change-mss in mangle; they cannot be changed ("failure: cannot change
//   builtin", pear2/Net_RouterOS #36) nor named by place-before (nasnet-panel PR #509: "RouterOS
//   rejects [a position] when dynamic rules occupy the top of the table");
// - user groups and their policies: each command needs its policy (print: read; add, set,
//   remove: write; /ping: test), a script or scheduler added without `policy` gets every
//   policy, and an account can only give what it holds [help.mikrotik.com "User" §Groups,
//   "Scripting" §Scheduler]; the message is "not enough permissions (9)";
// - a scheduler's next-run is a date and time on the router's clock, which need not be ours
//   (RouterOS 7.10+ form 2026-12-02 15:38:03) [help.mikrotik.com "Scheduler", "Clock"];
// - a script stops at its first failing command unless it is inside :do {} on-error={}
//   [help.mikrotik.com "Scripting" §Catch run-time errors];
// - queue types: a queue tree's `queue` is default-small unless set, and must name a built-in
//   type or one of /queue/type, whose kinds include fq-codel and cake on RouterOS 7
//   [help.mikrotik.com "Queues" §Queue Types, §Queue Tree].

export type Item = Record<string, string>;

export class TrapError extends Error {
  constructor(
    message: string,
    readonly category?: string,
  ) {
    super(message);
  }
}

export const ALL_POLICIES = 'ftp,reboot,read,write,policy,test,password,sniff,sensitive,romon';
const NOT_ENOUGH = 'not enough permissions (9)';

const FIREWALL = { disabled: 'false', dynamic: 'false', packets: '0', bytes: '0' };
const DEFAULTS: Record<string, Item> = {
  '/queue/tree': {
    'limit-at': '0',
    'max-limit': '0',
    priority: '8',
    'packet-mark': '',
    queue: 'default-small',
    disabled: 'false',
    invalid: 'false',
    packets: '0',
    bytes: '0',
  },
  '/queue/type': {},
  '/ip/firewall/mangle': { ...FIREWALL, passthrough: 'true' },
  '/ip/firewall/filter': FIREWALL,
  '/ip/firewall/address-list': { disabled: 'false', dynamic: 'false' },
  '/ipv6/firewall/mangle': { ...FIREWALL, passthrough: 'true' },
  '/ipv6/firewall/filter': FIREWALL,
  '/ipv6/firewall/address-list': { disabled: 'false', dynamic: 'false' },
  '/system/script': { policy: ALL_POLICIES, 'run-count': '0' },
  '/system/scheduler': { policy: ALL_POLICIES, 'run-count': '0', 'start-time': 'startup', disabled: 'false' },
  '/user': { disabled: 'false' },
  '/user/group': {},
};
const NAMED = new Set(['/queue/tree', '/queue/type', '/system/script', '/system/scheduler', '/user', '/user/group']);
const BUILTIN_QUEUE_TYPES = new Set(['default', 'default-small', 'ethernet-default', 'pfifo', 'only-hardware-queue']);
const QUEUE_KINDS = new Set(['pfifo', 'bfifo', 'red', 'sfq', 'pcq', 'fq-codel', 'cake']);

export interface ModelOptions {
  interfaces?: string[];
  /** Is the hospital reachable from the router now (for /ping)? */
  hospitalReachable?: (model: RouterModel) => boolean;
  onScriptError?: (error: Error) => void;
  /** The router's clock minus ours (its local time zone, its drift). */
  clockOffsetMs?: number;
}

export class RouterModel {
  readonly menus = new Map<string, Item[]>(Object.keys(DEFAULTS).map((m) => [m, []]));
  readonly interfaces: Set<string>;
  readonly timers = new Set<NodeJS.Timeout>();
  /** What the router's log would show (:log lines of scripts). */
  readonly log: string[] = [];
  readonly #nextRunAt = new Map<string, number>();
  #nextId = 1;

  constructor(readonly options: ModelOptions = {}) {
    this.interfaces = new Set(options.interfaces ?? ['ether1', 'ether2', 'bridge']);
  }

  menu(path: string): Item[] {
    const items = this.menus.get(path);
    if (!items) throw new TrapError('no such command prefix', '0');
    return items;
  }

  /** What the router adds by itself (a test fixture's door; the API cannot add dynamic items). */
  addDynamic(path: string, attrs: Item): string {
    const id = this.#newId();
    this.menu(path).unshift({ '.id': id, ...DEFAULTS[path], ...attrs, dynamic: 'true' });
    return id;
  }

  add(path: string, attrs: Item, policies: ReadonlySet<string> = new Set(ALL_POLICIES.split(','))): string {
    const items = this.menu(path);
    const { 'place-before': before, ...props } = attrs;
    if (NAMED.has(path)) {
      if (!props.name) throw new TrapError('failure: name must be set', '1');
      if (items.some((i) => i.name === props.name)) throw new TrapError('failure: already have such name', '1');
    }
    if (path === '/queue/tree' && !this.interfaces.has(props.parent ?? '') && !items.some((i) => i.name === props.parent)) {
      throw new TrapError('input does not match any value of parent', '1');
    }
    if (
      path === '/queue/tree' &&
      props.queue !== undefined &&
      !BUILTIN_QUEUE_TYPES.has(props.queue) &&
      !this.menu('/queue/type').some((q) => q.name === props.queue)
    ) {
      throw new TrapError('input does not match any value of queue', '1');
    }
    if (path === '/queue/type' && !QUEUE_KINDS.has(props.kind ?? '')) throw new TrapError('input does not match any value of kind', '1');
    if (path === '/system/script' || path === '/system/scheduler') {
      const wanted = (props.policy ?? ALL_POLICIES).split(',');
      if (wanted.some((p) => !policies.has(p))) throw new TrapError(NOT_ENOUGH, '1');
    }
    if (path.endsWith('/address-list') && props.address !== undefined) props.address = storedAddress(props.address);
    const id = this.#newId();
    const item: Item = { '.id': id, ...DEFAULTS[path], ...props };
    if (before !== undefined) {
      const at = items.findIndex((i) => i['.id'] === before);
      if (at < 0) throw new TrapError('no such item', '1');
      if (items[at]!.dynamic === 'true') throw new TrapError('failure: cannot place before dynamic item', '1');
      items.splice(at, 0, item);
    } else items.push(item);
    if (path === '/system/scheduler') this.#schedule(item);
    return id;
  }

  set(path: string, attrs: Item): void {
    const { '.id': id, ...props } = attrs;
    const item = this.menu(path).find((i) => i['.id'] === id);
    if (!item) throw new TrapError('no such item', '1');
    if (item.dynamic === 'true') throw new TrapError('failure: cannot change builtin', '1');
    Object.assign(item, props);
  }

  remove(path: string, ids: string): void {
    const items = this.menu(path);
    for (const id of ids.split(',')) {
      const at = items.findIndex((i) => i['.id'] === id);
      if (at < 0) throw new TrapError('no such item', '1');
      if (items[at]!.dynamic === 'true') throw new TrapError('failure: cannot change builtin', '1');
      if (path === '/queue/type' && this.menu('/queue/tree').some((q) => q.queue === items[at]!.name))
        throw new TrapError('failure: queue type is in use', '1');
      items.splice(at, 1);
      this.#nextRunAt.delete(id);
    }
  }

  /** Equality queries only (`?name=value`, `?name` present), ANDed: what usmp-edge sends. */
  print(path: string, queries: string[], proplist?: string): Item[] {
    const matches = this.menu(path).filter((item) =>
      queries.every((q) => {
        const body = q.slice(1);
        const eq = body.indexOf('=');
        return eq < 0 ? item[body] !== undefined : item[body.slice(0, eq)] === body.slice(eq + 1);
      }),
    );
    return matches.map((item) => this.#readBack(path, item, proplist));
  }

  /** The policies of a user's group, as a set. */
  policiesOf(username: string): Set<string> {
    const user = this.menu('/user').find((u) => u.name === username);
    const group = this.menu('/user/group').find((g) => g.name === user?.group);
    return new Set((group?.policy ?? '').split(',').filter((p) => p && !p.startsWith('!')));
  }

  ping(count: number): Item[] {
    const ok = this.options.hospitalReachable?.(this) ?? true;
    return Array.from({ length: count }, (_, i) => ({
      seq: String(i),
      sent: String(i + 1),
      received: ok ? String(i + 1) : '0',
      'packet-loss': ok ? '0' : '100',
    }));
  }

  /** /system/clock/print in the 7.10+ form. */
  clock(): Item {
    const [date, time] = routerDateTime(this.#routerNow()).split(' ');
    return { date: date!, time: time!, 'time-zone-name': 'Europe/Paris', 'gmt-offset': '+01:00' };
  }

  runScript(id: string, allowed?: ReadonlySet<string>): void {
    const script = this.menu('/system/script').find((i) => i['.id'] === id);
    if (!script) throw new TrapError('no such item', '1');
    if (allowed && (script.policy ?? ALL_POLICIES).split(',').some((p) => !allowed.has(p))) throw new TrapError(NOT_ENOUGH, '1');
    script['run-count'] = String(Number(script['run-count']) + 1);
    runConsoleScript(this, script.source ?? '');
  }

  #newId(): string {
    return `*${(this.#nextId++).toString(16).toUpperCase()}`;
  }

  #routerNow(): number {
    return Date.now() + (this.options.clockOffsetMs ?? 0);
  }

  #schedule(item: Item): void {
    const ms = seconds(item.interval ?? '0s') * 1000;
    if (ms <= 0) return;
    const id = item['.id']!;
    this.#nextRunAt.set(id, Date.now() + ms);
    const timer = setInterval(() => {
      const live = this.menu('/system/scheduler').find((i) => i['.id'] === id);
      if (!live) {
        clearInterval(timer);
        this.timers.delete(timer);
        return;
      }
      this.#nextRunAt.set(id, Date.now() + ms);
      live['run-count'] = String(Number(live['run-count']) + 1);
      const script = this.menu('/system/script').find((s) => s.name === live['on-event']);
      try {
        // The scheduler runs its script with the scheduler's own policies.
        if (script) this.runScript(script['.id']!, new Set((live.policy ?? ALL_POLICIES).split(',')));
      } catch (err) {
        this.options.onScriptError?.(err as Error);
      }
    }, ms);
    this.timers.add(timer);
  }

  stop(): void {
    for (const t of this.timers) clearInterval(t);
    this.timers.clear();
  }

  /** Every item of every menu (ids left out), for "exactly the previous state" comparisons. */
  snapshot(): Record<string, Item[]> {
    const out: Record<string, Item[]> = {};
    for (const [path, items] of this.menus) out[path] = items.map(({ '.id': _id, packets: _p, bytes: _b, 'run-count': _r, ...rest }) => rest);
    return out;
  }

  #readBack(path: string, item: Item, proplist?: string): Item {
    const out: Item = {};
    for (const [k, v] of Object.entries(item)) {
      // RouterOS prints rates with units, and booleans as true/false.
      out[k] = /limit/.test(k) && /^\d+000000$/.test(v) ? `${Number(v) / 1e6}M` : v === 'yes' ? 'true' : v === 'no' ? 'false' : v;
    }
    if (path === '/system/scheduler') {
      const at = this.#nextRunAt.get(item['.id']!);
      out['next-run'] = at === undefined ? '' : routerDateTime(at + (this.options.clockOffsetMs ?? 0));
    }
    if (!proplist) return out;
    const keep = new Set(proplist.split(','));
    return Object.fromEntries(Object.entries(out).filter(([k]) => keep.has(k)));
  }
}

function storedAddress(text: string): string {
  const [address, bits] = text.split('/');
  if (address!.includes(':')) return `${address}/${bits ?? '128'}`;
  return bits === '32' ? address! : text;
}

function routerDateTime(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19).replace('T', ' ');
}

function seconds(text: string): number {
  let s = 0;
  for (const m of text.matchAll(/(\d+)(w|d|h|m|s)/g)) s += Number(m[1]) * ({ w: 604800, d: 86400, h: 3600, m: 60, s: 1 } as Record<string, number>)[m[2]!]!;
  return s;
}

const FIND = String.raw`\[find where ((?:[^"\]]|"(?:[^"\\]|\\.)*")*)\]`;

/**
 * The console-script lines usmp-edge's roll-back emits, and only those:
 *   /menu path remove [find where CONDITION]
 *   /menu path add k="v" ... [place-before=[:pick [find where CONDITION] 0]]
 *   :do { one of the above } on-error={ :log warning "text" }
 * where CONDITION is `prop="value"`, `prop~"regex"`, `!(prop~"regex")`, `prop=no`, joined by &&.
 */
export function runConsoleScript(model: RouterModel, source: string): void {
  for (const raw of source.split('\n')) {
    const line = raw.trim();
    if (!line) continue;
    const guarded = /^:do \{ (.*) \} on-error=\{ :log warning "((?:[^"\\]|\\.)*)" \}$/.exec(line);
    if (guarded) {
      try {
        runCommand(model, guarded[1]!);
      } catch (err) {
        model.log.push(`warning: ${unescape(guarded[2]!)} (${(err as Error).message})`);
      }
      continue;
    }
    runCommand(model, line);
  }
}

function runCommand(model: RouterModel, line: string): void {
  const remove = new RegExp(`^(/[a-z0-9 -]+?) remove ${FIND}$`).exec(line);
  if (remove) {
    const path = apiPath(remove[1]!);
    const ids = model
      .menu(path)
      .filter((i) => matches(i, remove[2]!))
      .map((i) => i['.id']!);
    if (ids.length > 0) model.remove(path, ids.join(','));
    return;
  }
  const add = /^(\/[a-z0-9 -]+?) add (.*)$/.exec(line);
  if (!add) throw new TrapError(`simulator: unsupported script line: ${line}`);
  const path = apiPath(add[1]!);
  const attrs: Item = {};
  for (const m of add[2]!.matchAll(new RegExp(String.raw`([\w-]+)=(?:"((?:[^"\\]|\\.)*)"|\[:pick ${FIND} 0\])`, 'g'))) {
    if (m[3] !== undefined) {
      const first = model.menu(path).find((i) => matches(i, m[3]!));
      attrs[m[1]!] = first?.['.id'] ?? '';
    } else attrs[m[1]!] = unescape(m[2]!);
  }
  if (attrs['place-before'] === '') throw new TrapError('invalid value for argument place-before', '1');
  model.add(path, attrs);
}

/** A find-where condition: terms joined by &&, each `p="v"`, `p~"re"`, `!(p~"re")` or `p=no|yes`. */
function matches(item: Item, condition: string): boolean {
  return condition.split(' && ').every((term) => {
    const negated = /^!\((.*)\)$/.exec(term);
    if (negated) return !matches(item, negated[1]!);
    const m = /^([\w-]+)(=|~)(?:"((?:[^"\\]|\\.)*)"|(yes|no))$/.exec(term);
    if (!m) throw new TrapError(`simulator: unsupported condition: ${term}`);
    const [prop, op] = [m[1]!, m[2]!];
    if (m[4] !== undefined) return (item[prop] === 'true' || item[prop] === 'yes') === (m[4] === 'yes');
    const value = unescape(m[3]!);
    return op === '=' ? item[prop] === value : new RegExp(value).test(item[prop] ?? '');
  });
}

function apiPath(consolePath: string): string {
  return `/${consolePath.slice(1).trim().split(' ').join('/')}`;
}

function unescape(text: string): string {
  return text.replace(/\\(.)/g, '$1');
}
