// A token bucket: `rate` tokens per second, at most `burst` saved up. take() never refuses;
// it says how long the caller should wait, so publishes beyond the rate are slowed down
// (and the device's socket with them) instead of dropped: a device's measurements are never lost
// to a rate limit.
export class TokenBucket {
  #tokens: number;
  #at: number;
  readonly #rate: number;
  readonly #burst: number;
  readonly #now: () => number;

  constructor(ratePerSecond: number, burst: number, now: () => number = Date.now) {
    this.#rate = ratePerSecond;
    this.#burst = Math.max(1, burst);
    this.#tokens = this.#burst;
    this.#now = now;
    this.#at = now();
  }

  /** Takes one token; returns the milliseconds to wait before it is really available (0: now). */
  take(): number {
    const now = this.#now();
    this.#tokens = Math.min(this.#burst, this.#tokens + ((now - this.#at) / 1000) * this.#rate);
    this.#at = now;
    this.#tokens -= 1;
    return this.#tokens >= 0 ? 0 : (-this.#tokens / this.#rate) * 1000;
  }
}
