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

  /** Takes `cost` tokens (one message, or its bytes); returns the milliseconds to wait before they are really available (0: now). */
  take(cost = 1): number {
    this.#refill();
    this.#tokens -= cost;
    return this.#tokens >= 0 ? 0 : (-this.#tokens / this.#rate) * 1000;
  }

  /** Full again: forgetting this bucket gives nobody anything (a new one starts full). */
  get full(): boolean {
    this.#refill();
    return this.#tokens >= this.#burst;
  }

  #refill(): void {
    const now = this.#now();
    this.#tokens = Math.min(this.#burst, this.#tokens + ((now - this.#at) / 1000) * this.#rate);
    this.#at = now;
  }
}
