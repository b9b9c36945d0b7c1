import { constants as fsConstants, mkdirSync, readdirSync, rmSync, truncateSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { UsmpError } from '../../errors.js';
import { AckLog } from './ack-log.js';
import { decodeRecord, encodeRecord, enqueuedAtOf, payloadBytesOf, seqOf, topicOf, type OutboxMessage } from './record.js';
import { OwnerUsage, type Usage } from './owner-usage.js';
import { syncDirectory } from '../../exec/durable-file.js';
import { outboxId, scanSegment } from './segment-files.js';

// The durable outbox: an append-only log in segment files, the single source of truth between
// a device's PUBACK and the hospital's. append() resolves only once its record is on stable
// storage, and appends that arrive while a write runs share the next one (group commit), so one
// device at a time pays ~1 sync and a busy cart pays one per batch (benchmarks/outbox.bench.ts
// measures both).
// Two batches may be on their way to disk at once (each at its own offset, O_DSYNC): under load
// a synchronous write waits ~4 ms on this VM, and a second one overlapping it nearly doubles
// what the disk takes. They are acknowledged in order, so what was acknowledged is always a
// prefix of the log that recovery reads back.
// Acknowledged messages are recorded in an ack log; a segment whose messages are all
// acknowledged is deleted. Capacity is bounded: when full, append() is refused, never a drop.

/** The part of a file handle the outbox writes through (injectable, so tests can fail a write). */
export interface SegmentFile {
  writev(buffers: Buffer[], position: number): Promise<{ bytesWritten: number }>;
  truncate(length: number): Promise<void>;
  close(): Promise<void>;
}

export interface OutboxOptions {
  dir: string;
  maxMessages: number;
  maxBytes: number;
  segmentBytes?: number;
  now?: () => number;
  /** Opens a segment for writing; each write must be on stable storage when it resolves. */
  openSegmentFile?: (path: string) => Promise<SegmentFile>;
  /** Told about a torn or corrupt tail found at recovery (count of bytes dropped). */
  onRecoveryProblem?: (problem: { file: string; offset: number; reason: string }) => void;
  /** Who a message belongs to (a device, from its topic): each owner's share is kept (usageOf). */
  ownerOf?: (topic: string) => string | undefined;
}

interface Segment {
  firstSeq: number;
  file: string;
  /** Byte offset and enqueue time of each record, by seq − firstSeq. */
  offsets: number[];
  enqueuedAt: number[];
  size: number;
}

interface PendingAppend {
  message: OutboxMessage;
  owner: string | undefined;
  bytes: Buffer;
  resolve: (seq: number) => void;
  reject: (err: Error) => void;
}

const WRITES_IN_FLIGHT = 2;
const RECENT_MESSAGES = 8192;
const RECENT_BYTES = 16 * 1024 * 1024;
const SEGMENT_NAME = /^seg-(\d{16})\.log$/;

export class DurableOutbox {
  readonly #o: Required<Omit<OutboxOptions, 'onRecoveryProblem' | 'ownerOf'>> & Pick<OutboxOptions, 'ownerOf'>;
  readonly #owners = new OwnerUsage();
  readonly #segments: Segment[] = [];
  readonly #acks: AckLog;
  #nextSeq = 0;
  #bytes = 0;
  #active: SegmentFile | undefined;
  #queue: PendingAppend[] = [];
  #flushing: Promise<void> | undefined;
  #wakeFlush: (() => void) | undefined;
  /** End of what was handed to the disk in the active segment (≥ its committed size). */
  #writeEnd = 0;
  /** Set when a write failed: later writes are not acknowledged until the log is rewound. */
  #writeFailure: Error | undefined;
  #closed = false;
  /** The latest messages written, so the bridge sends fresh ones without reading them back. */
  readonly #recent = new Map<number, { message: OutboxMessage; bytes: number }>();
  #recentBytes = 0;
  /** Random, made once with the outbox: with a seq it names a message for good (see messageId). */
  readonly id: string;

  private constructor(options: OutboxOptions, acks: AckLog, id: string) {
    this.#o = { segmentBytes: 64 * 1024 * 1024, now: Date.now, openSegmentFile: openDsync, ...options };
    this.#acks = acks;
    this.id = id;
  }

  static async open(options: OutboxOptions): Promise<DurableOutbox> {
    mkdirSync(options.dir, { recursive: true, mode: 0o700 });
    const acks = AckLog.open(options.dir);
    const outbox = new DurableOutbox(options, acks, outboxId(options.dir));
    outbox.#recover(options.onRecoveryProblem);
    return outbox;
  }

  /** The stable id of a message, carried upstream so the hospital can drop a duplicate. */
  messageId(seq: number): string {
    return `${this.id}-${seq}`;
  }

  /** The first seq not yet acknowledged (every message below it is done). */
  get watermark(): number {
    return this.#acks.watermark;
  }

  /** Messages stored and not yet acknowledged by the hospital. */
  get depth(): number {
    return this.#nextSeq - this.#acks.watermark - this.#acks.ackedAbove;
  }

  /** Most messages it holds before refusing. */
  get capacity(): number {
    return this.#o.maxMessages;
  }

  /** How full the outbox is: the larger of messages/limit and bytes/limit (1 = full). */
  get fillRatio(): number {
    return Math.max(this.depth / this.#o.maxMessages, this.#bytes / this.#o.maxBytes);
  }

  get bytes(): number {
    return this.#bytes;
  }

  get nextSeq(): number {
    return this.#nextSeq;
  }

  /** What one owner holds (messages stored or being stored, not yet acknowledged; payload bytes). */
  usageOf(owner: string): Usage {
    return this.#owners.of(owner);
  }

  /** When the oldest unacknowledged message was stored, or undefined when empty. */
  get oldestEnqueuedAt(): number | undefined {
    for (let seq = this.#acks.watermark; seq < this.#nextSeq; seq++) {
      if (this.#acks.isAcked(seq)) continue;
      const segment = this.#segmentOf(seq);
      return segment?.enqueuedAt[seq - segment.firstSeq];
    }
    return undefined;
  }

  /** Stores a message; resolves with its sequence number once it is on disk. */
  append(topic: string, payload: Buffer, qos: 0 | 1 | 2 = 1): Promise<number> {
    if (this.#closed) return Promise.reject(new UsmpError('USMP_E_OUTBOX_IO', 'the outbox is closed'));
    if (this.fillRatio >= 1) {
      return Promise.reject(
        new UsmpError('USMP_E_OUTBOX_FULL', `the outbox holds ${this.depth} messages (${this.#bytes} bytes), its limit`, {
          details: { depth: this.depth, bytes: this.#bytes },
        }),
      );
    }
    const message: OutboxMessage = { seq: this.#nextSeq++, enqueuedAtMs: this.#o.now(), qos, topic, payload };
    const owner = this.#o.ownerOf?.(topic);
    if (owner !== undefined) this.#owners.charge(owner, payload.length);
    return new Promise((resolve, reject) => {
      this.#queue.push({ message, owner, bytes: encodeRecord(message), resolve, reject });
      if (this.#flushing) this.#wakeFlush?.();
      else this.#flushing = this.#flush();
    });
  }

  /** Records that the hospital acknowledged a message; its segment goes when all of it is acked. */
  ack(seq: number): void {
    if (!this.#acks.ack(seq)) return;
    this.#owners.release(seq);
    this.#forget(seq);
    while (this.#segments.length > 1 && this.#segments[1]!.firstSeq <= this.#acks.watermark) {
      const done = this.#segments.shift()!;
      this.#bytes -= done.size;
      rmSync(done.file, { force: true });
    }
  }

  /** Up to `max` unacknowledged messages with seq ≥ fromSeq, in order. */
  async read(fromSeq: number, max: number): Promise<OutboxMessage[]> {
    const out: OutboxMessage[] = [];
    let seq = Math.max(fromSeq, this.#acks.watermark);
    while (out.length < max && seq < this.#nextSeq) {
      const cached = this.#recent.get(seq);
      if (cached) {
        if (!this.#acks.isAcked(seq)) out.push(cached.message);
        seq++;
        continue;
      }
      const segment = this.#segmentOf(seq);
      if (!segment) break;
      const index = seq - segment.firstSeq;
      if (index >= segment.offsets.length) {
        // appended but not yet on disk, or a range lost to corruption: go on after it
        const next = this.#segments.find((x) => x.firstSeq > seq);
        if (!next || seq >= this.#nextSeq) break;
        seq = next.firstSeq;
        continue;
      }
      const lastIndex = Math.min(segment.offsets.length - 1, index + (max - out.length) * 2);
      const start = segment.offsets[index]!;
      const end = lastIndex + 1 < segment.offsets.length ? segment.offsets[lastIndex + 1]! : segment.size;
      const handle = await open(segment.file, 'r');
      try {
        const buf = Buffer.allocUnsafe(end - start);
        await handle.read(buf, 0, buf.length, start);
        for (let offset = 0; offset < buf.length && out.length < max;) {
          const decoded = decodeRecord(buf, offset);
          if (!('message' in decoded)) throw new UsmpError('USMP_E_OUTBOX_IO', `unreadable record in ${segment.file} at ${start + offset}`);
          offset += decoded.bytes;
          if (!this.#acks.isAcked(decoded.message.seq)) out.push(decoded.message);
          seq = decoded.message.seq + 1;
        }
      } finally {
        await handle.close();
      }
    }
    return out;
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#flushing;
    await this.#active?.close();
    this.#active = undefined;
    this.#acks.close();
  }

  #segmentOf(seq: number): Segment | undefined {
    for (let i = this.#segments.length - 1; i >= 0; i--) if (this.#segments[i]!.firstSeq <= seq) return this.#segments[i];
    return undefined;
  }

  async #flush(): Promise<void> {
    const writes = new Set<Promise<void>>();
    let lastCommit: Promise<void> = Promise.resolve();
    while (this.#queue.length > 0 || writes.size > 0) {
      if (this.#queue.length === 0 || writes.size >= WRITES_IN_FLIGHT) {
        await Promise.race([...writes, new Promise<void>((wake) => (this.#wakeFlush = wake))]);
        this.#wakeFlush = undefined;
        continue;
      }
      const segment = this.#segments.at(-1);
      if (!segment || !this.#active || this.#writeEnd >= this.#o.segmentBytes || this.#writeFailure) {
        if (writes.size > 0) {
          await Promise.all(writes); // the old segment's writes settle before it changes
          continue;
        }
        if (this.#writeFailure) await this.#rewind(segment!);
        else await this.#newSegment(this.#queue[0]!.message.seq);
        continue;
      }
      const batch = this.#queue;
      this.#queue = [];
      const commit = this.#writeBatch(segment, batch, lastCommit);
      lastCommit = commit;
      writes.add(commit);
      void commit.then(() => writes.delete(commit));
    }
    this.#flushing = undefined;
  }

  /** Writes a batch at the end of the active segment and acknowledges it after every earlier one. Never rejects. */
  async #writeBatch(segment: Segment, batch: PendingAppend[], previous: Promise<void>): Promise<void> {
    const buffers = batch.map((p) => p.bytes);
    const length = buffers.reduce((sum, b) => sum + b.length, 0);
    const offset = this.#writeEnd;
    this.#writeEnd += length;
    let failure: Error | undefined;
    try {
      const { bytesWritten } = await this.#active!.writev(buffers, offset);
      if (bytesWritten !== length) throw new Error(`short write: ${bytesWritten} of ${length} bytes`);
    } catch (err) {
      failure = err as Error;
    }
    await previous;
    // after a failed batch, a later one is not acknowledged even if it reached the disk:
    // recovery stops at the gap, so it would not be read back
    failure ??= this.#writeFailure;
    if (failure) {
      this.#writeFailure = failure;
      const error = new UsmpError('USMP_E_OUTBOX_IO', `cannot write the outbox: ${failure.message}`, { cause: failure });
      for (const p of batch) {
        if (p.owner !== undefined) this.#owners.uncharge(p.owner, p.message.payload.length);
        p.reject(error);
      }
      return;
    }
    let at = offset;
    for (const p of batch) {
      segment.offsets.push(at);
      segment.enqueuedAt.push(p.message.enqueuedAtMs);
      at += p.bytes.length;
    }
    segment.size = at;
    this.#bytes += length;
    for (const p of batch) {
      // the cached payload is a view of our own record, not of the device's socket buffer
      // (which would keep a whole 64 KiB read chunk alive per cached message)
      const message = { ...p.message, payload: p.bytes.subarray(p.bytes.length - p.message.payload.length) };
      this.#recent.set(p.message.seq, { message, bytes: p.bytes.length });
      this.#recentBytes += p.bytes.length;
    }
    while (this.#recent.size > RECENT_MESSAGES || this.#recentBytes > RECENT_BYTES) this.#forget(this.#recent.keys().next().value!);
    for (const p of batch) {
      if (p.owner !== undefined) this.#owners.bind(p.message.seq, p.owner, p.message.payload.length);
      p.resolve(p.message.seq);
    }
  }

  /**
   * After a failed write (disk full, I/O error), once no write is in flight: the segment is cut
   * back to what was acknowledged and numbering resumes right after it, so the log stays
   * gapless; appends that were only waiting are renumbered and go out in the next write.
   */
  async #rewind(segment: Segment): Promise<void> {
    this.#writeFailure = undefined;
    this.#nextSeq = segment.firstSeq + segment.offsets.length;
    for (const p of this.#queue) {
      p.message.seq = this.#nextSeq++;
      p.bytes = encodeRecord(p.message);
    }
    this.#writeEnd = segment.size;
    await this.#active!.truncate(segment.size).catch(() => undefined); // a stale tail left anyway is cut at recovery (out of sequence)
  }

  #forget(seq: number): void {
    const entry = this.#recent.get(seq);
    if (!entry) return;
    this.#recent.delete(seq);
    this.#recentBytes -= entry.bytes;
  }

  async #newSegment(firstSeq: number): Promise<Segment> {
    await this.#active?.close();
    const file = join(this.#o.dir, `seg-${String(firstSeq).padStart(16, '0')}.log`);
    this.#active = await this.#o.openSegmentFile(file);
    this.#writeEnd = 0;
    syncDirectory(this.#o.dir); // the new file's name must survive a power cut too
    const segment: Segment = { firstSeq, file, offsets: [], enqueuedAt: [], size: 0 };
    this.#segments.push(segment);
    return segment;
  }

  /** Reads every segment back; a torn tail (power cut mid-write) is cut off. */
  #recover(onProblem: OutboxOptions['onRecoveryProblem']): void {
    const names = readdirSync(this.#o.dir)
      .filter((n) => SEGMENT_NAME.test(n))
      .sort();
    let expected = this.#acks.watermark;
    for (const name of names) {
      const file = join(this.#o.dir, name);
      const firstSeq = Number(SEGMENT_NAME.exec(name)![1]);
      const segment: Segment = { firstSeq, file, offsets: [], enqueuedAt: [], size: 0 };
      const offset = scanSegment(
        file,
        (at, body) => {
          // a record out of sequence is the stale tail of a write that failed and was rewound
          const seq = seqOf(body);
          if (seq !== firstSeq + segment.offsets.length) return `record ${seq} where ${firstSeq + segment.offsets.length} was due`;
          segment.offsets.push(at);
          segment.enqueuedAt.push(enqueuedAtOf(body));
          const owner = this.#o.ownerOf?.(topicOf(body));
          if (owner !== undefined && seq >= this.#acks.watermark && !this.#acks.isAcked(seq)) {
            const bytes = payloadBytesOf(body);
            this.#owners.charge(owner, bytes);
            this.#owners.bind(seq, owner, bytes);
          }
          return undefined;
        },
        (at, reason) => {
          onProblem?.({ file, offset: at, reason });
          truncateSync(file, at);
        },
      );
      segment.size = offset;
      const lastSeq = firstSeq + segment.offsets.length - 1;
      if (segment.offsets.length === 0 || lastSeq < this.#acks.watermark) {
        rmSync(file, { force: true }); // empty, or every message in it acknowledged
        continue;
      }
      if (firstSeq > expected) {
        onProblem?.({ file, offset: 0, reason: `messages ${expected}..${firstSeq - 1} were lost with a corrupt segment` });
        this.#acks.skip(expected, firstSeq);
      }
      this.#segments.push(segment);
      this.#bytes += segment.size;
      expected = lastSeq + 1;
    }
    this.#nextSeq = Math.max(expected, this.#acks.watermark);
  }
}

/** O_DSYNC: each write returns once its data is on stable storage, like write + fdatasync, in one trip to the thread pool instead of two (open(2)). */
async function openDsync(path: string): Promise<SegmentFile> {
  const { O_WRONLY, O_CREAT, O_TRUNC, O_DSYNC } = fsConstants;
  return open(path, O_WRONLY | O_CREAT | O_TRUNC | O_DSYNC, 0o600);
}
