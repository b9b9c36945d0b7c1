// Interarrival jitter of one RTP source [RFC 3550 §6.4.1, A.8], as Wireshark's RTP analysis
// computes it: D is the difference between a packet's arrival and the arrival the RTP timestamps
// predict from the last packet in timestamp order (a packet behind it in timestamp order is
// judged but does not move it); J += (|D| − J) / 16, in milliseconds. RTP timestamps wrap at
// 2^32: each one is extended by its signed 32-bit difference from the previous.

export interface JitterStep {
  /** False when the packet's timestamp is behind the last packet in timestamp order. */
  inTimeOrder: boolean;
  /** Its arrival minus the arrival of the last packet in timestamp order, ms. */
  deltaMs: number;
  /** The jitter after this packet, ms; undefined without a clock rate. */
  jitterMs?: number;
}

export class JitterEstimator {
  #lastTs: number;
  #lastExtendedTs: number;
  #inOrderTs: number;
  #inOrderMs: number;
  #jitter = 0;

  constructor(arrivalMs: number, timestamp: number) {
    this.#lastTs = timestamp;
    this.#lastExtendedTs = timestamp;
    this.#inOrderTs = timestamp;
    this.#inOrderMs = arrivalMs;
  }

  /** A packet arriving at `arrivalMs` with RTP timestamp `timestamp`, on a clock of `clockRate` Hz (undefined: unknown). */
  add(arrivalMs: number, timestamp: number, clockRate: number | undefined): JitterStep {
    const extendedTs = this.#lastExtendedTs + ((timestamp - this.#lastTs) | 0);
    this.#lastTs = timestamp;
    this.#lastExtendedTs = extendedTs;
    const inTimeOrder = extendedTs >= this.#inOrderTs;
    const step: JitterStep = { inTimeOrder, deltaMs: arrivalMs - this.#inOrderMs };
    if (clockRate !== undefined && clockRate > 0) {
      const predicted = this.#inOrderMs + (extendedTs - this.#inOrderTs) / (clockRate / 1000);
      this.#jitter = (15 * this.#jitter + Math.abs(arrivalMs - predicted)) / 16;
      step.jitterMs = this.#jitter;
    }
    if (inTimeOrder) {
      this.#inOrderMs = arrivalMs;
      this.#inOrderTs = extendedTs;
    }
    return step;
  }
}
