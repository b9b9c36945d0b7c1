// Counts the octets of one transfer phase as they arrive, in 50 ms bins of the receiver's clock,
// and gives the rate over the phase minus its first seconds: TCP's slow start and a shaper's
// initial burst are not the link's rate (iperf3's --omit does the same).

const BIN_MS = 50;

export class ByteMeter {
  readonly #now: () => number;
  #startedAt: number | undefined;
  #stoppedAt: number | undefined;
  readonly #bins = new Map<number, number>();
  #total = 0;

  constructor(now: () => number = () => performance.now()) {
    this.#now = now;
  }

  start(): void {
    this.#bins.clear();
    this.#total = 0;
    this.#startedAt = this.#now();
    this.#stoppedAt = undefined;
  }

  stop(): void {
    if (this.#startedAt !== undefined) this.#stoppedAt ??= this.#now();
  }

  get running(): boolean {
    return this.#startedAt !== undefined && this.#stoppedAt === undefined;
  }

  get totalBytes(): number {
    return this.#total;
  }

  /** Octets received now; counted only while the phase runs. */
  add(bytes: number): void {
    if (!this.running) return;
    const bin = Math.floor((this.#now() - this.#startedAt!) / BIN_MS);
    this.#bins.set(bin, (this.#bins.get(bin) ?? 0) + bytes);
    this.#total += bytes;
  }

  /** Mbit/s (10^6) over [start + omitMs, stop]; null when that window is empty. */
  mbps(omitMs: number): { mbps: number; bytes: number; seconds: number } | null {
    if (this.#startedAt === undefined || this.#stoppedAt === undefined) return null;
    const firstBin = Math.ceil(omitMs / BIN_MS);
    const lastBin = Math.floor((this.#stoppedAt - this.#startedAt) / BIN_MS) - 1; // the last whole bin
    if (lastBin < firstBin) return null;
    let bytes = 0;
    for (const [bin, n] of this.#bins) if (bin >= firstBin && bin <= lastBin) bytes += n;
    const seconds = ((lastBin - firstBin + 1) * BIN_MS) / 1000;
    return { mbps: (bytes * 8) / seconds / 1e6, bytes, seconds };
  }
}
