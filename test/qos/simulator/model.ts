// The RouterOS SIMULATOR's in-memory router: the menus usmp-edge uses, with the behaviour we
// rely on [help.mikrotik.com "API", "Queues", "Scheduler"]:
// ids like *1A, =ret= on add, place-before, "already have such name", queries by equality,
// .proplist, defaults read back (priority=8, limit-at=0), rates read back with units (19M),
// booleans as true/false, a scheduler that runs a script after its interval, /ping.
// It is not RouterOS: it is a test double named as such (no real router can run here).

export type Item = Record<string, string>;

export class TrapError extends Error {
  constructor(message: string, readonly category?: string) {
    super(message);
  }
}

const DEFAULTS: Record<string, Item> = {
  '/queue/tree': { 'limit-at': '0', 'max-limit': '0', priority: '8', 'packet-mark': '', disabled: 'false', invalid: 'false', packets: '0', bytes: '0' },
  '/ip/firewall/mangle': { disabled: 'false', passthrough: 'true', packets: '0', bytes: '0' },
  '/ip/firewall/filter': { disabled: 'false', packets: '0', bytes: '0' },
  '/ip/firewall/address-list': { disabled: 'false', dynamic: 'false' },
  '/system/script': { policy: 'read,write,test', 'run-count': '0' },
  '/system/scheduler': { 'run-count': '0', 'start-time': 'startup', disabled: 'false' },
};
const NAMED = new Set(['/queue/tree', '/system/script', '/system/scheduler']);

export interface ModelOptions {
  interfaces?: string[];
  /** Is the hospital reachable from the router now (for /ping)? */
  hospitalReachable?: (model: RouterModel) => boolean;
  onScriptError?: (error: Error) => void;
}

export class RouterModel {
  readonly menus = new Map<string, Item[]>(Object.keys(DEFAULTS).map((m) => [m, []]));
  readonly interfaces: Set<string>;
  readonly timers = new Set<NodeJS.Timeout>();
  #nextId = 1;

  constructor(readonly options: ModelOptions = {}) {
    this.interfaces = new Set(options.interfaces ?? ['ether1', 'ether2', 'bridge']);
  }

  menu(path: string): Item[] {
    const items = this.menus.get(path);
    if (!items) throw new TrapError('no such command prefix', '0');
    return items;
  }

  add(path: string, attrs: Item): string {
    const items = this.menu(path);
    const { 'place-before': before, ...props } = attrs;
    if (NAMED.has(path)) {
      if (!props.name) throw new TrapError('failure: name must be set', '1');
      if (items.some((i) => i.name === props.name)) throw new TrapError('failure: already have such name', '1');
    }
    if (path === '/queue/tree' && !this.interfaces.has(props.parent ?? '') && !items.some((i) => i.name === props.parent)) {
      throw new TrapError(`input does not match any value of parent`, '1');
    }
    const id = `*${(this.#nextId++).toString(16).toUpperCase()}`;
    const item: Item = { '.id': id, ...DEFAULTS[path], ...props };
    if (before !== undefined) {
      const at = items.findIndex((i) => i['.id'] === before);
      if (at < 0) throw new TrapError('no such item', '1');
      items.splice(at, 0, item);
    } else items.push(item);
    if (path === '/system/scheduler') this.#schedule(item);
    return id;
  }

  set(path: string, attrs: Item): void {
    const { '.id': id, ...props } = attrs;
    const item = this.menu(path).find((i) => i['.id'] === id);
    if (!item) throw new TrapError('no such item', '1');
    Object.assign(item, props);
  }

  remove(path: string, ids: string): void {
    const items = this.menu(path);
    for (const id of ids.split(',')) {
      const at = items.findIndex((i) => i['.id'] === id);
      if (at < 0) throw new TrapError('no such item', '1');
      items.splice(at, 1);
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
    return matches.map((item) => readBack(path, item, proplist));
  }

  ping(count: number): Item[] {
    const ok = this.options.hospitalReachable?.(this) ?? true;
    return Array.from({ length: count }, (_, i) => ({ seq: String(i), sent: String(i + 1), received: ok ? String(i + 1) : '0', 'packet-loss': ok ? '0' : '100' }));
  }

  runScript(id: string): void {
    const script = this.menu('/system/script').find((i) => i['.id'] === id);
    if (!script) throw new TrapError('no such item', '1');
    script['run-count'] = String(Number(script['run-count']) + 1);
    runConsoleScript(this, script.source ?? '');
  }

  #schedule(item: Item): void {
    const ms = seconds(item.interval ?? '0s') * 1000;
    if (ms <= 0) return;
    const timer = setInterval(() => {
      const live = this.menu('/system/scheduler').find((i) => i['.id'] === item['.id']);
      if (!live) {
        clearInterval(timer);
        this.timers.delete(timer);
        return;
      }
      live['run-count'] = String(Number(live['run-count']) + 1);
      const script = this.menu('/system/script').find((s) => s.name === live['on-event']);
      try {
        if (script) this.runScript(script['.id']!);
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
}

function readBack(path: string, item: Item, proplist?: string): Item {
  const out: Item = {};
  for (const [k, v] of Object.entries(item)) {
    // RouterOS prints rates with units, and booleans as true/false.
    out[k] = /limit/.test(k) && /^\d+000000$/.test(v) ? `${Number(v) / 1e6}M` : v === 'yes' ? 'true' : v === 'no' ? 'false' : v;
  }
  if (path === '/system/scheduler') out['next-run'] = out.interval ?? '';
  if (!proplist) return out;
  const keep = new Set(proplist.split(','));
  return Object.fromEntries(Object.entries(out).filter(([k]) => keep.has(k)));
}

function seconds(text: string): number {
  let s = 0;
  for (const m of text.matchAll(/(\d+)(w|d|h|m|s)/g)) s += Number(m[1]) * ({ w: 604800, d: 86400, h: 3600, m: 60, s: 1 } as Record<string, number>)[m[2]!]!;
  return s;
}

/**
 * The console-script lines usmp-edge's roll-back emits, and only those:
 *   /menu path remove [find where prop~"^regex"]   /menu path remove [find where prop="value"]
 *   /menu path add k="v" ... [place-before=[:pick [find where action="fasttrack-connection"] 0]]
 */
export function runConsoleScript(model: RouterModel, source: string): void {
  for (const raw of source.split('\n')) {
    const line = raw.trim();
    if (!line) continue;
    const remove = /^(\/[a-z -]+?) remove \[find where ([\w-]+)(=|~)"((?:[^"\\]|\\.)*)"\]$/.exec(line);
    if (remove) {
      const path = apiPath(remove[1]!);
      const [prop, op, value] = [remove[2]!, remove[3]!, unescape(remove[4]!)];
      const ids = model.menu(path).filter((i) => (op === '=' ? i[prop] === value : new RegExp(value).test(i[prop] ?? ''))).map((i) => i['.id']!);
      if (ids.length > 0) model.remove(path, ids.join(','));
      continue;
    }
    const add = /^(\/[a-z -]+?) add (.*)$/.exec(line);
    if (!add) throw new TrapError(`simulator: unsupported script line: ${line}`);
    const path = apiPath(add[1]!);
    const attrs: Item = {};
    for (const m of add[2]!.matchAll(/([\w-]+)=(?:"((?:[^"\\]|\\.)*)"|\[:pick \[find where (action="fasttrack-connection"|!\(comment~"[^"]*"\))\] 0\])/g)) {
      if (m[3]) {
        const [, prefix] = /comment~"\^([^"]*)"/.exec(m[3]) ?? [];
        const first = model.menu(path).find((i) => (prefix === undefined ? i.action === 'fasttrack-connection' : !(i.comment ?? '').startsWith(prefix)));
        if (first) attrs[m[1]!] = first['.id']!;
      } else attrs[m[1]!] = unescape(m[2]!);
    }
    model.add(path, attrs);
  }
}

function apiPath(consolePath: string): string {
  return `/${consolePath.slice(1).trim().split(' ').join('/')}`;
}

function unescape(text: string): string {
  return text.replace(/\\(.)/g, '$1');
}
