import { constants as fsConstants, mkdirSync, readdirSync, rmSync, truncateSync } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { UsmpError } from '../../errors.js';
import { AckLog } from './ack-log.js';
import { decodeRecord, encodeRecord, enqueuedAtOf, payloadBytesOf, seqOf, topicOf, type OutboxMessage } from './record.js';
import { OwnerUsage, type Usage } from './owner-usage.js';
import { syncDirectory } from '../../exec/durable-file.js';
import { outboxId, scanSegment } from './segment-files.js';
import { GroupCommitWriter, type Placement, type PositionalFile } from './group-commit-writer.js';
import { SegmentIndex, type Segment } from './segment-index.js';

// The durable outbox: an append-only log in segment files, the single source of truth between
// a device's PUBACK and the hospital's. append() resolves only once its record is on stable
// storage; the writes are grouped (group-commit-writer.ts), and where each record is comes from
// the segment index (segment-index.ts), which holds only what is durable.
// Acknowledged messages are recorded in an ack log; a segment whose messages are all
// acknowledged is deleted, off the acknowledgement's path, once those acks are on stable
// storage. Capacity is bounded: when full, append() is refused, never a drop.

/** The part of a file handle the outbox writes through (injectable, so tests can fail a write). */
export interface SegmentFile extends PositionalFile {
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

interface PendingAppend {
  message: OutboxMessage;
  owner: string | undefined;
  bytes: Buffer;
  resolve: (seq: number) => void;
  reject: (err: Error) => void;
}

const RECENT_MESSAGES = 8192;
const RECENT_BYTES = 16 * 1024 * 1024;
const SEGMENT_NAME = /^seg-(\d{16})\.log$/;

export class DurableOutbox {
  readonly #o: Required<Omit<OutboxOptions, 'onRecoveryProblem' | 'ownerOf'>> & Pick<OutboxOptions, 'ownerOf'>;
  readonly #owners = new OwnerUsage();
  readonly #index = new SegmentIndex();
  readonly #acks: AckLog;
  readonly #writer: GroupCommitWriter<PendingAppend>;
  #nextSeq = 0;
  /** The seq after the last durable record. */
  #durableEnd = 0;
  /** Appends handed to the writer and not yet committed or refused. */
  #pending = 0;
  /** The open file of the index's active segment. */
  #active: SegmentFile | undefined;
  /** Deletions of acknowledged segments, one after the other. */
  #deleting: Promise<void> = Promise.resolve();
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
    this.#writer = new GroupCommitWriter<PendingAppend>({
      place: (waiting, failure) => this.#place(waiting, failure),
      committed: (batch, offset) => this.#committed(batch, offset),
      failed: (batch, error) => this.#failed(batch, error),
    });
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

  /** Messages stored or being stored, and not yet acknowledged by the hospital (a refused append is not counted). */
  get depth(): number {
    return this.#durableEnd - this.#acks.watermark - this.#acks.ackedAbove + this.#pending;
  }

  /** Most messages it holds before refusing. */
  get capacity(): number {
    return this.#o.maxMessages;
  }

  /** How full the outbox is: the larger of messages/limit and bytes/limit (1 = full). */
  get fillRatio(): number {
    return Math.max(this.depth / this.#o.maxMessages, this.#index.bytes / this.#o.maxBytes);
  }

  get bytes(): number {
    return this.#index.bytes;
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
      if (!this.#acks.isAcked(seq)) return this.#index.enqueuedAtOf(seq);
    }
    return undefined;
  }

  /** Stores a message; resolves with its sequence number once it is on disk. */
  append(topic: string, payload: Buffer, qos: 0 | 1 | 2 = 1): Promise<number> {
    if (this.#closed) return Promise.reject(new UsmpError('USMP_E_OUTBOX_IO', 'the outbox is closed'));
    if (this.fillRatio >= 1) {
      return Promise.reject(
        new UsmpError('USMP_E_OUTBOX_FULL', `the outbox holds ${this.depth} messages (${this.bytes} bytes), its limit`, {
          details: { depth: this.depth, bytes: this.bytes },
        }),
      );
    }
    const message: OutboxMessage = { seq: this.#nextSeq++, enqueuedAtMs: this.#o.now(), qos, topic, payload };
    const owner = this.#o.ownerOf?.(topic);
    if (owner !== undefined) this.#owners.charge(owner, payload.length);
    this.#pending++;
    return new Promise((resolve, reject) => this.#writer.submit({ message, owner, bytes: encodeRecord(message), resolve, reject }));
  }

  /** Records that the hospital acknowledged a message; its segment goes when all of it is acked. */
  ack(seq: number): void {
    if (!this.#acks.ack(seq)) return;
    this.#owners.release(seq);
    this.#forget(seq);
    const done = this.#index.retire(this.#acks.watermark);
    if (done.length > 0) this.#delete(done);
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
      const segment = this.#index.segmentOf(seq);
      if (!segment) break;
      const index = seq - segment.firstSeq;
      if (index >= segment.offsets.length) {
        // appended but not yet on disk, or a range lost to corruption: go on after it
        const next = this.#index.segmentAfter(seq);
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
    await this.#writer.drained();
    await this.#deleting;
    await this.#active?.close();
    this.#active = undefined;
    this.#acks.close();
  }

  /** Throws when the segment index breaks one of its invariants (for tests). */
  assertInvariants(): void {
    this.#index.assertInvariants();
  }

  /**
   * Where the waiting appends go. After a failed write the active segment is cut back to what
   * was acknowledged and numbering resumes right after it, so the log stays gapless: the waiting
   * appends are renumbered. Otherwise (none yet, or full) a new segment is opened.
   */
  async #place(waiting: readonly PendingAppend[], failure: Error | undefined): Promise<Placement> {
    const segment = this.#index.active;
    if (failure && segment && this.#active) {
      this.#nextSeq = this.#durableEnd;
      for (const p of waiting) {
        p.message.seq = this.#nextSeq++;
        p.bytes = encodeRecord(p.message);
      }
      await this.#active.truncate(segment.size).catch(() => undefined); // a stale tail left anyway is cut at recovery (out of sequence)
      return { file: this.#active, offset: segment.size, limit: this.#o.segmentBytes };
    }
    await this.#active?.close().catch(() => undefined); // every write to it was acknowledged or refused already
    this.#active = undefined;
    const firstSeq = waiting[0]!.message.seq;
    const file = join(this.#o.dir, `seg-${String(firstSeq).padStart(16, '0')}.log`);
    this.#active = await this.#o.openSegmentFile(file);
    syncDirectory(this.#o.dir); // the new file's name must survive a power cut too
    this.#index.open(firstSeq, file);
    return { file: this.#active, offset: 0, limit: this.#o.segmentBytes };
  }

  #committed(batch: readonly PendingAppend[], offset: number): void {
    this.#index.commit(offset, batch);
    for (const p of batch) {
      // the cached payload is a view of our own record, not of the device's socket buffer
      // (which would keep a whole 64 KiB read chunk alive per cached message)
      const message = { ...p.message, payload: p.bytes.subarray(p.bytes.length - p.message.payload.length) };
      this.#recent.set(p.message.seq, { message, bytes: p.bytes.length });
      this.#recentBytes += p.bytes.length;
    }
    while (this.#recent.size > RECENT_MESSAGES || this.#recentBytes > RECENT_BYTES) this.#forget(this.#recent.keys().next().value!);
    this.#pending -= batch.length;
    this.#durableEnd = batch.at(-1)!.message.seq + 1;
    for (const p of batch) {
      if (p.owner !== undefined) this.#owners.bind(p.message.seq, p.owner, p.message.payload.length);
      p.resolve(p.message.seq);
    }
  }

  #failed(batch: readonly PendingAppend[], failure: Error): void {
    this.#pending -= batch.length;
    const error = new UsmpError('USMP_E_OUTBOX_IO', `cannot write the outbox: ${failure.message}`, { cause: failure });
    for (const p of batch) {
      if (p.owner !== undefined) this.#owners.uncharge(p.owner, p.message.payload.length);
      p.reject(error);
    }
  }

  /**
   * Deletes the files of fully acknowledged segments, one deletion after the other and off the
   * acknowledgement's path. The acks that cover them reach stable storage first: otherwise a
   * power cut could leave the files gone and the acks not, and recovery would report
   * acknowledged messages as lost. A file left behind (an error here) goes at the next start:
   * recovery removes a segment whose messages are all acknowledged.
   */
  #delete(segments: readonly Segment[]): void {
    this.#deleting = this.#deleting
      .then(async () => {
        await this.#acks.persist();
        await Promise.all(segments.map((segment) => rm(segment.file, { force: true })));
      })
      .catch(() => undefined);
  }

  #forget(seq: number): void {
    const entry = this.#recent.get(seq);
    if (!entry) return;
    this.#recent.delete(seq);
    this.#recentBytes -= entry.bytes;
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
      this.#index.adopt(segment);
      expected = lastSeq + 1;
    }
    this.#nextSeq = Math.max(expected, this.#acks.watermark);
    this.#durableEnd = this.#nextSeq;
  }
}

/** O_DSYNC: each write returns once its data is on stable storage, like write + fdatasync, in one trip to the thread pool instead of two (open(2)). */
async function openDsync(path: string): Promise<SegmentFile> {
  const { O_WRONLY, O_CREAT, O_TRUNC, O_DSYNC } = fsConstants;
  return open(path, O_WRONLY | O_CREAT | O_TRUNC | O_DSYNC, 0o600);
}
