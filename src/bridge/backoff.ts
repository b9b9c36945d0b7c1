// Reconnect delays with "decorrelated jitter": each delay is random between the base and three
// times the previous one, capped. Many appliances cut off by the same outage do not come back
// in step. [AWS Architecture Blog, "Exponential Backoff And Jitter", 2015; mosquitto's bridge
// restart_timeout (mosquitto.conf(5)) backs off the same way]
export class DecorrelatedJitter {
  readonly #baseMs: number;
  readonly #capMs: number;
  readonly #random: () => number;
  #previousMs: number;

  constructor(baseMs: number, capMs: number, random: () => number = Math.random) {
    this.#baseMs = baseMs;
    this.#capMs = Math.max(baseMs, capMs);
    this.#random = random;
    this.#previousMs = baseMs;
  }

  next(): number {
    const high = Math.max(this.#baseMs, this.#previousMs * 3);
    this.#previousMs = Math.min(this.#capMs, this.#baseMs + this.#random() * (high - this.#baseMs));
    return Math.round(this.#previousMs);
  }

  reset(): void {
    this.#previousMs = this.#baseMs;
  }
}
