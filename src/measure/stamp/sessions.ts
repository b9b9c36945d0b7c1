// Bounded per-peer state of the reflector: stateful sequence counters per session and a token
// bucket per peer address. Both maps are capped; the least recently seen entry is evicted.

export class SessionTable {
  readonly #sessions = new Map<string, { next: number; lastSeenMs: number }>();
  constructor(readonly maxSessions: number, readonly idleMs: number) {}

  /** Our next sequence number for this session [RFC 8762 §4.3.1 stateful mode]. */
  nextSeq(key: string, nowMs: number): number {
    let session = this.#sessions.get(key);
    if (!session || nowMs - session.lastSeenMs > this.idleMs) session = { next: 0, lastSeenMs: nowMs };
    this.#sessions.delete(key);
    const seq = session.next;
    this.#sessions.set(key, { next: (seq + 1) >>> 0, lastSeenMs: nowMs });
    evictOldest(this.#sessions, this.maxSessions);
    return seq;
  }

  get size(): number {
    return this.#sessions.size;
  }
}

export class RateLimiter {
  readonly #buckets = new Map<string, { tokens: number; lastMs: number }>();
  constructor(readonly perSecond: number, readonly maxPeers: number) {}

  /** True when the peer may get one more reply now. Burst: one second's worth. */
  allow(peer: string, nowMs: number): boolean {
    const bucket = this.#buckets.get(peer) ?? { tokens: this.perSecond, lastMs: nowMs };
    this.#buckets.delete(peer);
    bucket.tokens = Math.min(this.perSecond, bucket.tokens + ((nowMs - bucket.lastMs) * this.perSecond) / 1000);
    bucket.lastMs = nowMs;
    const allowed = bucket.tokens >= 1;
    if (allowed) bucket.tokens -= 1;
    this.#buckets.set(peer, bucket);
    evictOldest(this.#buckets, this.maxPeers);
    return allowed;
  }
}

function evictOldest<V>(map: Map<string, V>, max: number): void {
  while (map.size > max) {
    const oldest = map.keys().next().value;
    if (oldest === undefined) break;
    map.delete(oldest);
  }
}
