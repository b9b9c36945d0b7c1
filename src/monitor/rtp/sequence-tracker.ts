// The sequence numbers of one RTP source [RFC 3550 A.1]: the highest sequence number extended by
// its cycles (wraps at 65 536), a jump of MAX_DROPOUT or more taken as a restart of the sender
// once the next packet follows it (bad_seq), packets up to MAX_MISORDER behind taken as late or
// duplicated, and the source's validity after MIN_SEQUENTIAL packets in sequence (probation).
// Unlike A.1, every packet is counted as received, during probation too, as Wireshark counts
// them, so that our figures can be set beside tshark's; a restart keeps what the first run
// expected instead of forgetting it. Gaps are counted as A.1 does not: each one, and the longest.

const RTP_SEQ_MOD = 0x10000;
export const MAX_DROPOUT = 3000;
export const MAX_MISORDER = 100;
export const MIN_SEQUENTIAL = 2;

export class SequenceTracker {
  /** Extended sequence number of the first packet of the current run. */
  #base: number;
  /** Highest sequence number seen (16 bits) and the wraps before it. */
  #max: number;
  #cycles = 0;
  #badSeq = RTP_SEQ_MOD + 1;
  #probation = MIN_SEQUENTIAL - 1;
  /** What the runs before a restart expected. */
  #expectedBefore = 0;
  /** The last sequence number that moved forward: a packet other than its successor is a sequence error. */
  #last: number;
  received = 1;
  sequenceErrors = 0;
  lossRuns = 0;
  maxLossRun = 0;
  restarts = 0;

  constructor(firstSeq: number) {
    this.#base = firstSeq;
    this.#max = firstSeq;
    this.#last = firstSeq;
  }

  /** True once MIN_SEQUENTIAL packets came in sequence [RFC 3550 A.1, probation]. */
  get valid(): boolean {
    return this.#probation === 0;
  }

  get extendedMax(): number {
    return this.#cycles + this.#max;
  }

  /** Packets expected: the extended highest sequence number − the base + 1 [RFC 3550 A.3], over every run. */
  get expected(): number {
    return this.#expectedBefore + this.extendedMax - this.#base + 1;
  }

  /** Expected − received: negative with duplicates, as RFC 3550 A.3 allows. */
  get lost(): number {
    return this.expected - this.received;
  }

  add(seq: number): void {
    this.received++;
    const step = (seq - this.#last) & 0xffff;
    if (step !== 1 && step !== 0 && step < 0x8000) {
      this.sequenceErrors++;
      this.lossRuns++;
      this.maxLossRun = Math.max(this.maxLossRun, step - 1);
    } else if (step !== 1) {
      this.sequenceErrors++; // late or duplicated
    }
    if (step !== 0 && step < 0x8000) this.#last = seq;

    if (this.#probation > 0) this.#probation = seq === ((this.#max + 1) & 0xffff) ? this.#probation - 1 : MIN_SEQUENTIAL - 1;
    const udelta = (seq - this.#max) & 0xffff;
    if (udelta < MAX_DROPOUT) {
      if (seq < this.#max) this.#cycles += RTP_SEQ_MOD; // wrapped
      this.#max = seq;
    } else if (udelta <= RTP_SEQ_MOD - MAX_MISORDER) {
      if (seq === this.#badSeq) this.#restart(seq);
      else this.#badSeq = (seq + 1) & 0xffff; // a jump: a restart if the next packet follows it
    }
    // else: up to MAX_MISORDER behind the highest, late or duplicated
  }

  /** Two packets in sequence after a jump: the sender restarted; the new run starts with the first of them. */
  #restart(seq: number): void {
    this.#expectedBefore += this.extendedMax - this.#base + 1;
    this.#cycles = seq === 0 ? RTP_SEQ_MOD : 0;
    this.#base = this.#cycles + seq - 1;
    this.#max = seq;
    this.#badSeq = RTP_SEQ_MOD + 1;
    this.restarts++;
  }
}
