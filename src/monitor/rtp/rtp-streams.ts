import type { RtpPacketInfo } from './rtp-packet.js';
import { UsmpError } from '../../errors.js';
import { dscpName } from '../../measure/dscp-names.js';

// Per-stream RTP analysis, as Wireshark's "RTP Streams" reports it, so our figures can be
// checked against tshark on the same capture (`tshark -z rtp,streams`):
// - jitter [RFC 3550 §6.4.1, A.8]: expected arrival = arrival of the last in-order packet +
//   Δtimestamp / clock rate; D = |arrival − expected|; J += (D − J) / 16, in ms;
// - max and mean jitter over "regular" packets (not the first, not marked, not comfort noise,
//   not behind in timestamp), the mean taken as Wireshark does: over the packets seen before;
// - lost [RFC 3550 A.3] = extended highest sequence − base sequence + 1 − received (negative
//   with duplicates, as RFC 3550 allows).
// Dynamic payload types (≥ 96) have no jitter unless their clock rate is configured (Wireshark
// needs the SDP for the same reason).

/** Clock rates of the static payload types [RFC 3551 §6; IANA RTP parameters]. */
const STATIC_CLOCK_RATES: Record<number, number> = {
  0: 8000,
  1: 8000,
  2: 8000,
  3: 8000,
  4: 8000,
  5: 8000,
  6: 16000,
  7: 8000,
  8: 8000,
  9: 8000,
  10: 44100,
  11: 44100,
  12: 8000,
  13: 8000,
  14: 90000,
  15: 8000,
  16: 11025,
  17: 22050,
  18: 8000,
  19: 8000,
  25: 90000,
  26: 90000,
  28: 90000,
  31: 90000,
  32: 90000,
  33: 90000,
  34: 90000,
};
const COMFORT_NOISE = new Set([13, 19]);

export interface RtpStreamSummary {
  ssrc: string;
  src: string;
  src_port: number;
  dst: string;
  dst_port: number;
  payload_type: number;
  packets: number;
  expected: number;
  lost: number;
  lost_pct: number;
  sequence_errors: number;
  /** Gaps in the sequence, and the most packets missing in one (a late packet still counts its gap). */
  loss_runs: number;
  max_loss_burst: number;
  /** Undefined when the clock rate of the payload type is unknown. */
  mean_jitter_ms?: number;
  max_jitter_ms?: number;
  max_delta_ms: number;
  /** Packets by the DSCP they arrived with (by name: EF, AF41, CS0…). */
  dscp: Record<string, number>;
  first_at: string;
  last_at: string;
  /** Mean rate with IP and UDP headers, kbit/s, over the stream's life. */
  mean_kbps: number;
}

class StreamState {
  readonly first: RtpPacketInfo;
  packets = 0;
  bytes = 0;
  baseSeq: number;
  maxExtendedSeq: number;
  lastSeq: number;
  cycles = 0;
  sequenceErrors = 0;
  /** Gaps in the sequence (runs of missing packets) and the longest one. */
  lossRuns = 0;
  maxLossRun = 0;
  payloadType: number;
  lastExtendedTs: number;
  lastTs: number;
  /** Arrival and extended timestamp of the last packet in timestamp order. */
  inOrderTime: number;
  inOrderTs: number;
  jitter = 0;
  maxJitter = 0;
  meanJitter = 0;
  maxDelta = 0;
  followsComfortNoise = false;
  lastTime: number;
  readonly dscp = new Map<number, number>();

  constructor(p: RtpPacketInfo) {
    this.first = p;
    this.baseSeq = p.seq;
    this.maxExtendedSeq = p.seq;
    this.lastSeq = p.seq;
    this.payloadType = p.payloadType;
    this.lastTs = p.timestamp;
    this.lastExtendedTs = p.timestamp;
    this.inOrderTs = p.timestamp;
    this.inOrderTime = p.timeMs;
    this.lastTime = p.timeMs;
  }
}

export class RtpStreams {
  readonly #streams = new Map<string, StreamState>();
  readonly #clockRates: Record<number, number>;
  readonly #maxStreams: number;
  /** Packets not analysed because the stream table was full. */
  overflow = 0;

  constructor(options: { clockRates?: Record<number, number>; maxStreams?: number } = {}) {
    this.#clockRates = { ...STATIC_CLOCK_RATES, ...(options.clockRates ?? {}) };
    this.#maxStreams = options.maxStreams ?? 1024;
  }

  get size(): number {
    return this.#streams.size;
  }

  /** The clock rate of a payload type: static [RFC 3551 §6] or configured; undefined when unknown. */
  clockRateOf(payloadType: number): number | undefined {
    const rate = this.#clockRates[payloadType];
    return rate !== undefined && rate > 0 ? rate : undefined;
  }

  add(p: RtpPacketInfo): void {
    const key = `${p.src}:${p.srcPort}>${p.dst}:${p.dstPort}/${p.ssrc}`;
    const s = this.#streams.get(key);
    if (!s) {
      if (this.#streams.size >= this.#maxStreams) {
        this.overflow++;
        return;
      }
      const created = new StreamState(p);
      created.packets = 1;
      created.bytes = p.rtpLength + (p.ipv6 ? 48 : 28);
      created.dscp.set(p.dscp, 1);
      this.#streams.set(key, created);
      return;
    }
    this.#next(s, p);
  }

  #next(s: StreamState, p: RtpPacketInfo): void {
    const packetsBefore = s.packets;
    s.packets++;
    s.bytes += p.rtpLength + (p.ipv6 ? 48 : 28);
    s.dscp.set(p.dscp, (s.dscp.get(p.dscp) ?? 0) + 1);

    // timestamps wrap at 2^32: extend by the signed 32-bit difference
    const extendedTs = s.lastExtendedTs + ((p.timestamp - s.lastTs) | 0);
    s.lastTs = p.timestamp;
    s.lastExtendedTs = extendedTs;
    const inTimeOrder = extendedTs >= s.inOrderTs;

    // sequence: extend over wraps, count what is not the next one [RFC 3550 A.1]
    const step = (p.seq - s.lastSeq) & 0xffff;
    if (step === 1) {
      // in order
    } else if (step !== 0 && step < 0x8000) {
      s.sequenceErrors++; // a gap: packets lost (or late)
      s.lossRuns++;
      s.maxLossRun = Math.max(s.maxLossRun, step - 1);
    } else {
      s.sequenceErrors++; // late or duplicated
    }
    const forward = ((p.seq - (s.maxExtendedSeq & 0xffff)) & 0xffff) < 0x8000;
    if (forward) {
      const candidate = (s.maxExtendedSeq & ~0xffff) + p.seq + (p.seq < (s.maxExtendedSeq & 0xffff) ? 0x10000 : 0);
      if (candidate > s.maxExtendedSeq) s.maxExtendedSeq = candidate;
    }
    if (step !== 0 && step < 0x8000) s.lastSeq = p.seq;

    const comfortNoise = COMFORT_NOISE.has(p.payloadType);
    const followsComfortNoise = COMFORT_NOISE.has(s.payloadType);
    s.payloadType = p.payloadType;
    const clockRate = this.#clockRates[p.payloadType] ?? 0;
    let jitter: number | undefined;
    if (clockRate > 0) {
      const expected = s.inOrderTime + (extendedTs - s.inOrderTs) / (clockRate / 1000);
      jitter = (15 * s.jitter + Math.abs(p.timeMs - expected)) / 16;
      s.jitter = jitter;
    }
    const regular = !p.marker && !comfortNoise && inTimeOrder && !followsComfortNoise;
    if (regular) {
      s.maxDelta = Math.max(s.maxDelta, p.timeMs - s.inOrderTime);
      if (jitter !== undefined) {
        s.maxJitter = Math.max(s.maxJitter, jitter);
        s.meanJitter = (s.meanJitter * (packetsBefore - 1) + jitter) / packetsBefore;
      }
    }
    if (inTimeOrder) {
      s.inOrderTime = p.timeMs;
      s.inOrderTs = extendedTs;
    }
    s.lastTime = p.timeMs;
  }

  /** Streams whose last packet is older than `idleMs` at `nowMs`: summarised and forgotten. */
  endIdle(nowMs: number, idleMs: number): RtpStreamSummary[] {
    const ended: RtpStreamSummary[] = [];
    for (const [key, s] of this.#streams) {
      if (nowMs - s.lastTime < idleMs) continue;
      ended.push(this.#summary(s));
      this.#streams.delete(key);
    }
    return ended;
  }

  /** Streams with a packet in the last `withinMs` before `nowMs` (a call in progress). */
  active(nowMs: number, withinMs: number): RtpStreamSummary[] {
    return [...this.#streams.values()].filter((s) => nowMs - s.lastTime <= withinMs).map((s) => this.#summary(s));
  }

  summaries(): RtpStreamSummary[] {
    return [...this.#streams.values()].map((s) => this.#summary(s));
  }

  #summary(s: StreamState): RtpStreamSummary {
    const expected = s.maxExtendedSeq - s.baseSeq + 1;
    const lost = expected - s.packets;
    const hasClock = (this.#clockRates[s.payloadType] ?? 0) > 0;
    const durationMs = s.lastTime - s.first.timeMs;
    const round = (x: number): number => Math.round(x * 1e6) / 1e6;
    return {
      ssrc: `0x${s.first.ssrc.toString(16).padStart(8, '0')}`,
      src: s.first.src,
      src_port: s.first.srcPort,
      dst: s.first.dst,
      dst_port: s.first.dstPort,
      payload_type: s.payloadType,
      packets: s.packets,
      expected,
      lost,
      lost_pct: expected > 0 ? round((100 * lost) / expected) : 0,
      sequence_errors: s.sequenceErrors,
      loss_runs: s.lossRuns,
      max_loss_burst: s.maxLossRun,
      ...(hasClock ? { mean_jitter_ms: round(s.meanJitter), max_jitter_ms: round(s.maxJitter) } : {}),
      max_delta_ms: round(s.maxDelta),
      dscp: Object.fromEntries([...s.dscp].map(([v, n]) => [dscpName(v), n])),
      first_at: new Date(s.first.timeMs).toISOString(),
      last_at: new Date(s.lastTime).toISOString(),
      mean_kbps: durationMs > 0 ? round((s.bytes * 8) / durationMs) : 0,
    };
  }
}

/** "96=90000" → {96: 90000}; `where` names the option or key in the error. */
export function parseClockRates(values: readonly string[], where = '--clock-rate'): Record<number, number> {
  const rates: Record<number, number> = {};
  for (const v of values) {
    const m = /^(\d{1,3})=(\d+)$/.exec(v);
    if (!m || Number(m[1]) > 127 || Number(m[2]) === 0)
      throw new UsmpError('USMP_E_USAGE', `${where} ${v}: expected PT=HZ with a payload type 0..127, e.g. 96=90000`);
    rates[Number(m[1])] = Number(m[2]);
  }
  return rates;
}
