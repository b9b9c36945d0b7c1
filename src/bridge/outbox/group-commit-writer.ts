// Group commit: entries queued while a write is on its way to disk share the next write, so a
// lone device pays one sync per message and a busy cart one per batch
// (benchmarks/outbox.bench.ts measures both).
//
// Up to `writesInFlight` batches are on their way at once, each at its own offset: under load a
// synchronous write waits ~4 ms on this VM, and a second one overlapping it nearly doubles what
// the disk takes. Batches are acknowledged in the order they were written, never out of it, so
// what was acknowledged is always a prefix of the file that recovery reads back.
//
// After a failed write (disk full, I/O error) every batch written behind it fails too, even one
// that reached the disk: recovery stops at the gap, so it would not be read back. Once nothing
// is in flight, the owner is asked at once for a place to write again (it cuts the file back to
// what was acknowledged), and what was only waiting goes out there.

/** Where batches are written: a file that writes at a position and resolves once on stable storage. */
export interface PositionalFile {
  writev(buffers: Buffer[], position: number): Promise<{ bytesWritten: number }>;
}

/** The file to write to, the offset of the next write, and the offset at which to ask for another place. */
export interface Placement {
  file: PositionalFile;
  offset: number;
  limit: number;
}

export interface QueuedWrite {
  /** The encoded entry; the owner may re-encode a waiting entry when it is asked for a new place. */
  bytes: Buffer;
}

export interface GroupCommitHooks<E extends QueuedWrite> {
  /**
   * Called with nothing in flight, before the first write, when the place is full, and after a
   * failure (`failure` set): returns where the waiting entries go. After a failure the owner
   * cuts back to what it acknowledged and may renumber the waiting entries.
   */
  place(waiting: readonly E[], failure: Error | undefined): Promise<Placement>;
  /** A batch is durable, and every batch written before it was acknowledged. */
  committed(batch: readonly E[], offset: number): void;
  /** A batch is refused: its write failed, one before it did, or there was no place to write. */
  failed(batch: readonly E[], error: Error): void;
}

export class GroupCommitWriter<E extends QueuedWrite> {
  readonly #hooks: GroupCommitHooks<E>;
  readonly #writesInFlight: number;
  #queue: E[] = [];
  #placement: Placement | undefined;
  /** End of what was handed to the file at the current place (at or past what was acknowledged). */
  #writeEnd = 0;
  /** Set when a write failed: later writes are not acknowledged until a new place is given. */
  #failure: Error | undefined;
  #running: Promise<void> | undefined;
  #wake: (() => void) | undefined;

  constructor(hooks: GroupCommitHooks<E>, options: { writesInFlight?: number } = {}) {
    this.#hooks = hooks;
    this.#writesInFlight = options.writesInFlight ?? 2;
  }

  /** Queues an entry; the hooks tell when it is committed or refused. */
  submit(entry: E): void {
    this.#queue.push(entry);
    if (this.#running) this.#wake?.();
    else this.#running = this.#run();
  }

  /** Resolves once nothing is queued or being written. */
  async drained(): Promise<void> {
    await this.#running;
  }

  async #run(): Promise<void> {
    const writes = new Set<Promise<void>>();
    let previous: Promise<void> = Promise.resolve();
    for (;;) {
      if (this.#failure && writes.size === 0) {
        await this.#replace(); // cut back at once, not at the next write: the file then holds only what was acknowledged
        continue;
      }
      if (this.#queue.length === 0 && writes.size === 0) break;
      if (this.#queue.length === 0 || writes.size >= this.#writesInFlight) {
        await Promise.race([...writes, new Promise<void>((wake) => (this.#wake = wake))]);
        this.#wake = undefined;
        continue;
      }
      if (!this.#placement || this.#writeEnd >= this.#placement.limit || this.#failure) {
        if (writes.size > 0) {
          await Promise.all(writes); // the old place's writes settle before it changes
          continue;
        }
        await this.#replace();
        continue;
      }
      const batch = this.#queue;
      this.#queue = [];
      const write = this.#write(this.#placement, batch, previous);
      previous = write;
      writes.add(write);
      void write.then(() => writes.delete(write));
    }
    // set in the same turn as the loop's last check, so a submit never finds a loop that has ended
    this.#running = undefined;
  }

  async #replace(): Promise<void> {
    const failure = this.#failure;
    this.#failure = undefined;
    try {
      this.#placement = await this.#hooks.place(this.#queue, failure);
      this.#writeEnd = this.#placement.offset;
    } catch (err) {
      // nowhere to write (the disk is gone): what waits is refused now, not left waiting
      this.#placement = undefined;
      const refused = this.#queue;
      this.#queue = [];
      this.#hooks.failed(refused, err as Error);
    }
  }

  /** Writes a batch at the end of the place and settles it after every earlier one. Never rejects. */
  async #write(placement: Placement, batch: E[], previous: Promise<void>): Promise<void> {
    const buffers = batch.map((entry) => entry.bytes);
    const length = buffers.reduce((sum, b) => sum + b.length, 0);
    const offset = this.#writeEnd;
    this.#writeEnd += length;
    let failure: Error | undefined;
    try {
      const { bytesWritten } = await placement.file.writev(buffers, offset);
      if (bytesWritten !== length) throw new Error(`short write: ${bytesWritten} of ${length} bytes`);
    } catch (err) {
      failure = err as Error;
    }
    await previous;
    failure ??= this.#failure;
    if (failure) {
      this.#failure = failure;
      this.#hooks.failed(batch, failure);
      return;
    }
    this.#hooks.committed(batch, offset);
  }
}
