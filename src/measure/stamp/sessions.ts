import { isIPv4 } from 'node:net';

// Bounded per-peer state of the reflector: stateful sequence counters per session and token
// buckets per address and per network. Anonymous senders must not be able to steer it: an entry
// in use is never evicted to make room (evicting restarted a session's counter, which its
// sender read as loss, and handed a flooder a fresh bucket). When a table is full, entries
// idle past their expiry are swept, oldest first; if none is, the newcomer is refused.

class BoundedTable<V extends { lastSeenMs: number }> {
  readonly #entries = new Map<string, V>();
  constructor(
    readonly max: number,
    readonly expiryMs: number,
  ) {}

  get(key: string, nowMs: number): V | undefined {
    const entry = this.#entries.get(key);
    if (entry && nowMs - entry.lastSeenMs > this.expiryMs) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry;
  }

  /** Stores as most recently used; false when the table is full of live entries. */
  put(key: string, value: V, nowMs: number): boolean {
    if (this.#entries.has(key)) this.#entries.delete(key);
    else if (this.#entries.size >= this.max && !this.#sweep(nowMs)) return false;
    this.#entries.set(key, value);
    return true;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Drops expired entries from the least recently used end; true when room was made. */
  #sweep(nowMs: number): boolean {
    for (const [key, entry] of this.#entries) {
      if (nowMs - entry.lastSeenMs <= this.expiryMs) break; // the rest were used more recently
      this.#entries.delete(key);
    }
    return this.#entries.size < this.max;
  }
}

export class SessionTable {
  readonly #sessions: BoundedTable<{ next: number; lastSeenMs: number }>;
  constructor(
    readonly maxSessions: number,
    readonly idleMs: number,
  ) {
    this.#sessions = new BoundedTable(maxSessions, idleMs);
  }

  /** Our next sequence number for this session [RFC 8762 §4.3.1 stateful mode]; undefined: table full. */
  nextSeq(key: string, nowMs: number): number | undefined {
    const session = this.#sessions.get(key, nowMs) ?? { next: 0, lastSeenMs: nowMs };
    const seq = session.next;
    return this.#sessions.put(key, { next: (seq + 1) >>> 0, lastSeenMs: nowMs }, nowMs) ? seq : undefined;
  }

  get size(): number {
    return this.#sessions.size;
  }
}

export type RateVerdict = 'allowed' | 'limited' | 'table_full';

/** Token buckets, one per key; burst: one second's worth. A bucket idle 1 s is full again, so it may go. */
export class RateLimiter {
  readonly #buckets: BoundedTable<{ tokens: number; lastSeenMs: number }>;
  constructor(
    readonly perSecond: number,
    readonly maxPeers: number,
  ) {
    this.#buckets = new BoundedTable(maxPeers, 1000);
  }

  check(key: string, nowMs: number): RateVerdict {
    const bucket = this.#buckets.get(key, nowMs) ?? { tokens: this.perSecond, lastSeenMs: nowMs };
    const tokens = Math.min(this.perSecond, bucket.tokens + ((nowMs - bucket.lastSeenMs) * this.perSecond) / 1000);
    const allowed = tokens >= 1;
    if (!this.#buckets.put(key, { tokens: allowed ? tokens - 1 : tokens, lastSeenMs: nowMs }, nowMs)) return 'table_full';
    return allowed ? 'allowed' : 'limited';
  }

  /** True when the peer may get one more reply now. */
  allow(key: string, nowMs: number): boolean {
    return this.check(key, nowMs) === 'allowed';
  }

  get size(): number {
    return this.#buckets.size;
  }
}

/** The source network a budget is shared by: the /24 of an IPv4 address, the /64 of an IPv6 one. */
export function sourceNetwork(address: string): string {
  const v4 = address.startsWith('::ffff:') && isIPv4(address.slice(7)) ? address.slice(7) : address;
  if (isIPv4(v4)) return `${v4.slice(0, v4.lastIndexOf('.'))}.0/24`;
  const [head = '', tail] = v4.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  return `${groups
    .slice(0, 4)
    .map((g) => g.toLowerCase().replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}
