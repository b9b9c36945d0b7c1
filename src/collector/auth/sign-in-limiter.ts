// Failed sign-ins counted per account and per address over a window: past either limit, sign-in
// is refused until the window has passed, even with the right password (OWASP Authentication
// Cheat Sheet, "Protect against automated attacks"). The tables are bounded: when full, the
// entry seen longest ago goes first.

export interface SignInLimits {
  windowMs: number;
  perAccount: number;
  perAddress: number;
  maxTracked: number;
}

export const DEFAULT_SIGN_IN_LIMITS: SignInLimits = { windowMs: 15 * 60_000, perAccount: 5, perAddress: 20, maxTracked: 10_000 };

class FailureCounts {
  readonly #entries = new Map<string, { count: number; firstMs: number }>();

  constructor(readonly limits: SignInLimits) {}

  count(key: string, nowMs: number): number {
    const entry = this.#entries.get(key);
    if (!entry) return 0;
    if (nowMs - entry.firstMs > this.limits.windowMs) {
      this.#entries.delete(key);
      return 0;
    }
    return entry.count;
  }

  add(key: string, nowMs: number): void {
    const count = this.count(key, nowMs);
    const entry = this.#entries.get(key) ?? { count: 0, firstMs: nowMs };
    entry.count = count + 1;
    // Map keeps insertion order: re-inserting makes this the most recent
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    if (this.#entries.size > this.limits.maxTracked) this.#entries.delete(this.#entries.keys().next().value!);
  }

  clear(key: string): void {
    this.#entries.delete(key);
  }
}

export class SignInLimiter {
  readonly #accounts: FailureCounts;
  readonly #addresses: FailureCounts;
  readonly #limits: SignInLimits;

  constructor(limits: SignInLimits = DEFAULT_SIGN_IN_LIMITS) {
    this.#limits = limits;
    this.#accounts = new FailureCounts(limits);
    this.#addresses = new FailureCounts(limits);
  }

  /** Why sign-in is refused now, or undefined when it may be tried. */
  blocked(account: string, address: string, nowMs: number): string | undefined {
    if (this.#accounts.count(account, nowMs) >= this.#limits.perAccount)
      return `too many failed sign-ins for this account; try again in ${Math.ceil(this.#limits.windowMs / 60_000)} minutes`;
    if (this.#addresses.count(address, nowMs) >= this.#limits.perAddress)
      return `too many failed sign-ins from this address; try again in ${Math.ceil(this.#limits.windowMs / 60_000)} minutes`;
    return undefined;
  }

  failed(account: string, address: string, nowMs: number): void {
    this.#accounts.add(account, nowMs);
    this.#addresses.add(address, nowMs);
  }

  succeeded(account: string): void {
    this.#accounts.clear(account);
  }
}
