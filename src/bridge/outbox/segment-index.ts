import { strict as assert } from 'node:assert';

// Where each stored message of the outbox is: its segment files in seq order, and in each
// segment the byte offset and enqueue time of every committed record. Only what is on stable
// storage is in the index (a write in flight is not), so a read never meets a record that
// recovery would not find.
//
// Invariants (assertInvariants):
//   - segments are in seq order and do not overlap: each starts at or after the end of the one before;
//   - in a segment, offsets start at 0 and rise, and the segment's size is the end of its last record;
//   - `bytes` is the sum of the segments' sizes.

export interface Segment {
  firstSeq: number;
  file: string;
  /** Byte offset of each record, by seq − firstSeq. */
  offsets: number[];
  /** Enqueue time of each record (ms), by seq − firstSeq. */
  enqueuedAt: number[];
  /** End of the last committed record. */
  size: number;
}

/** A record just made durable: what the index reads of it (the outbox's pending appends, as they are). */
export interface CommittedRecord {
  readonly message: { readonly seq: number; readonly enqueuedAtMs: number };
  readonly bytes: { readonly length: number };
}

export class SegmentIndex {
  readonly #segments: Segment[] = [];
  #bytes = 0;

  /** Bytes of every segment kept (committed records, acknowledged or not). */
  get bytes(): number {
    return this.#bytes;
  }

  /** The segment written to now (the last one). */
  get active(): Segment | undefined {
    return this.#segments.at(-1);
  }

  /** Starts a new, empty segment after the others. */
  open(firstSeq: number, file: string): Segment {
    const last = this.active;
    assert.ok(!last || firstSeq >= endOf(last), `segment ${firstSeq} would overlap the one from ${last?.firstSeq}`);
    const segment: Segment = { firstSeq, file, offsets: [], enqueuedAt: [], size: 0 };
    this.#segments.push(segment);
    return segment;
  }

  /** Takes in a segment read back at recovery, with its records already in it. */
  adopt(segment: Segment): void {
    const last = this.active;
    assert.ok(!last || segment.firstSeq >= endOf(last), `segment ${segment.firstSeq} would overlap the one from ${last?.firstSeq}`);
    this.#segments.push(segment);
    this.#bytes += segment.size;
  }

  /** Records a batch written at `offset` of the active segment, right after what it held. */
  commit(offset: number, records: readonly CommittedRecord[]): void {
    const segment = this.active;
    assert.ok(segment, 'a batch is committed to an open segment');
    assert.equal(offset, segment.size, 'batches are committed in the order they were written, with no gap');
    let at = offset;
    for (const record of records) {
      if (record.message.seq !== endOf(segment)) assert.fail(`seq ${record.message.seq} committed where ${endOf(segment)} was due`);
      segment.offsets.push(at);
      segment.enqueuedAt.push(record.message.enqueuedAtMs);
      at += record.bytes.length;
    }
    this.#bytes += at - segment.size;
    segment.size = at;
  }

  /** The segment that holds (or would hold) `seq`. */
  segmentOf(seq: number): Segment | undefined {
    for (let i = this.#segments.length - 1; i >= 0; i--) if (this.#segments[i]!.firstSeq <= seq) return this.#segments[i];
    return undefined;
  }

  /** The first segment starting after `seq` (reads skip a range lost to corruption with it). */
  segmentAfter(seq: number): Segment | undefined {
    return this.#segments.find((segment) => segment.firstSeq > seq);
  }

  /** When `seq` was stored, if it is in the index. */
  enqueuedAtOf(seq: number): number | undefined {
    const segment = this.segmentOf(seq);
    return segment?.enqueuedAt[seq - segment.firstSeq];
  }

  /**
   * Takes out the segments whose every message is below `watermark` (all acknowledged), never
   * the active one, and returns them: their files are the caller's to delete.
   */
  retire(watermark: number): Segment[] {
    const done: Segment[] = [];
    while (this.#segments.length > 1 && this.#segments[1]!.firstSeq <= watermark) {
      const segment = this.#segments.shift()!;
      this.#bytes -= segment.size;
      done.push(segment);
    }
    return done;
  }

  /** Throws when an invariant of the header does not hold (tests call it after every step). */
  assertInvariants(): void {
    let total = 0;
    let previous: Segment | undefined;
    for (const segment of this.#segments) {
      if (previous) assert.ok(segment.firstSeq >= endOf(previous), `segment ${segment.firstSeq} overlaps the one from ${previous.firstSeq}`);
      assert.equal(segment.offsets.length, segment.enqueuedAt.length, `segment ${segment.firstSeq}: one enqueue time per record`);
      for (let i = 0; i < segment.offsets.length; i++) {
        assert.ok(segment.offsets[i]! < (segment.offsets[i + 1] ?? segment.size), `segment ${segment.firstSeq}: offsets rise`);
      }
      if (segment.offsets.length > 0) assert.equal(segment.offsets[0], 0, `segment ${segment.firstSeq}: the first record at 0`);
      else assert.equal(segment.size, 0, `segment ${segment.firstSeq}: empty and sized 0`);
      total += segment.size;
      previous = segment;
    }
    assert.equal(this.#bytes, total, 'bytes is the sum of the segment sizes');
  }
}

/** The seq right after a segment's last record. */
function endOf(segment: Segment): number {
  return segment.firstSeq + segment.offsets.length;
}
