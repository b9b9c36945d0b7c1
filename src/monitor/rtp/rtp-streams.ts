import type { RtpPacketInfo } from './rtp-packet.js';
import { UsmpError } from '../../errors.js';
import { dscpName } from '../../measure/dscp-names.js';
import { JitterEstimator } from './jitter-estimator.js';
import { SequenceTracker } from './sequence-tracker.js';

// Per-stream RTP analysis, as Wireshark's "RTP Streams" reports it, so our figures can be
// checked against tshark on the same capture (`tshark -z rtp,streams`). A stream is one SSRC
// between two transport addresses: a new SSRC is a new stream.
// - jitter [RFC 3550 §6.4.1, A.8]: jitter-estimator.ts;
// - max and mean jitter over "regular" packets (not the first, not marked, not comfort noise,
//   not behind in timestamp), the mean taken as Wireshark does: over the packets seen before;
// - sequence, expected and lost [RFC 3550 A.1, A.3]: sequence-tracker.ts.
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
  readonly sequence: SequenceTracker;
  readonly timing: JitterEstimator;
  payloadType: number;
  maxJitter = 0;
  meanJitter = 0;
  maxDelta = 0;
  lastTime: number;
  readonly dscp = new Map<number, number>();

  constructor(p: RtpPacketInfo) {
    this.first = p;
    this.sequence = new SequenceTracker(p.seq);
    this.timing = new JitterEstimator(p.timeMs, p.timestamp);
    this.payloadType = p.payloadType;
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
    s.sequence.add(p.seq);

    const comfortNoise = COMFORT_NOISE.has(p.payloadType);
    const followsComfortNoise = COMFORT_NOISE.has(s.payloadType);
    s.payloadType = p.payloadType;
    const step = s.timing.add(p.timeMs, p.timestamp, this.clockRateOf(p.payloadType));
    const regular = !p.marker && !comfortNoise && step.inTimeOrder && !followsComfortNoise;
    if (regular) {
      s.maxDelta = Math.max(s.maxDelta, step.deltaMs);
      if (step.jitterMs !== undefined) {
        s.maxJitter = Math.max(s.maxJitter, step.jitterMs);
        s.meanJitter = (s.meanJitter * (packetsBefore - 1) + step.jitterMs) / packetsBefore;
      }
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
    const expected = s.sequence.expected;
    const lost = s.sequence.lost;
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
      sequence_errors: s.sequence.sequenceErrors,
      loss_runs: s.sequence.lossRuns,
      max_loss_burst: s.sequence.maxLossRun,
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
