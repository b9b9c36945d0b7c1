import { isIPv4 } from 'node:net';
import type { RtcpPacketInfo, RtcpReportBlock } from '../rtp/rtcp-packet.js';
import type { RtpPacketInfo } from '../rtp/rtp-packet.js';
import { RtpStreams, type RtpStreamSummary } from '../rtp/rtp-streams.js';
import { networkGrade, rateAudio, worstGrade, type AudioRating, type Grade } from './call-quality.js';
import { mediaOf } from './codecs.js';
import { dscpName } from '../../measure/dscp-names.js';

// From RTP streams to calls. The streams between the same two addresses, both directions, audio
// and video, make one call; it starts with its first packet and ends when no packet has come for
// the idle time. A call shorter than the minimum is an attempt (a wrong number, a test, a call
// that failed to set up). Only headers are read: SRTP keeps the RTP header in clear
// [RFC 3711 §3.1], so an encrypted call counts the same. What is kept of the far end is its
// network (/24, /48), never its host.

export type CallDirection = 'up' | 'down';

/** Audio and video each way, with room for re-keyed SSRCs: a call's streams beyond are not analysed. */
const MAX_STREAMS_PER_CALL = 16;

export interface CallStream {
  /** up: station → far end; down: far end → station. */
  direction: CallDirection;
  media: 'audio' | 'video' | 'unknown';
  ssrc: string;
  payload_type: number;
  packets: number;
  lost: number;
  lost_pct: number;
  /** Gaps in the sequence, and the most packets missing in one. */
  loss_runs: number;
  max_loss_burst: number;
  mean_jitter_ms?: number;
  /** Packets by the DSCP they carried, by name. */
  dscp: Record<string, number>;
  /** The mark the QoS policy gives this stream's class, and whether every packet carried it. */
  dscp_expected?: string;
  dscp_as_expected?: boolean;
  audio?: AudioRating;
  grade: Grade;
  /** How the receiving end saw this stream, from its last RTCP report [RFC 3550 §6.4]. */
  far_end?: { cumulative_lost: number; fraction_lost_pct: number; jitter_ms?: number };
}

export interface CallRecord {
  kind: 'call' | 'attempt';
  started_at: string;
  ended_at: string;
  duration_s: number;
  station: string;
  far_network: string;
  media: Array<'audio' | 'video' | 'unknown'>;
  grade: Grade;
  /** The lowest MOS of the call's audio, when a codec was named. */
  mos?: number;
  streams: CallStream[];
}

export interface CallTrackerOptions {
  /** Calls shorter than this are attempts. */
  minCallMs: number;
  /** A call with no packet for this long has ended. */
  idleMs: number;
  /** True for an address of the unit's stations; when neither end is one, the first sender is taken. */
  isStation: (address: string) => boolean;
  clockRates?: Record<number, number>;
  /** The monitor's latest RTT to the hospital, for the E-model's delay. */
  rttMs?: () => number | undefined;
  /** Calls followed at once; beyond, packets are counted in `overflow`. */
  maxCalls?: number;
  /** The DSCP the QoS policy gives a stream (its class's mark), when a policy is configured. */
  expectedDscp?: (stream: { direction: CallDirection; station: string; far: string; farPort: number }) => number | undefined;
}

interface CallState {
  station: string;
  far: string;
  firstMs: number;
  lastMs: number;
  streams: RtpStreams;
  /** The SSRCs of its streams. */
  sources: Set<number>;
  /** The latest report block about each of its streams, by the reporter's side. */
  reports: Map<number, { block: RtcpReportBlock; fromStation: boolean }>;
}

/** The far end's network: /24 of an IPv4 address, /48 of an IPv6 one. */
export function networkOf(address: string): string {
  if (isIPv4(address)) return `${address.split('.').slice(0, 3).join('.')}.0/24`;
  const groups = address.split(':');
  const full = groups.includes('') ? expandIpv6(address) : groups;
  return `${full.slice(0, 3).join(':')}::/48`;
}

function expandIpv6(address: string): string[] {
  const [head, tail] = address.split('::') as [string, string | undefined];
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  return [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
}

export class CallTracker {
  readonly #o: CallTrackerOptions;
  readonly #calls = new Map<string, CallState>();
  readonly #clockRates: Record<number, number>;
  overflow = 0;

  constructor(options: CallTrackerOptions) {
    this.#o = options;
    this.#clockRates = options.clockRates ?? {};
  }

  get size(): number {
    return this.#calls.size;
  }

  addRtp(p: RtpPacketInfo): void {
    const call = this.#callFor(p.src, p.dst, p.timeMs);
    if (!call) return;
    call.lastMs = Math.max(call.lastMs, p.timeMs);
    call.streams.add(p);
    if (call.sources.size < MAX_STREAMS_PER_CALL) call.sources.add(p.ssrc);
  }

  addRtcp(p: RtcpPacketInfo): void {
    const call = this.#calls.get(keyOf(p.src, p.dst));
    if (!call) return; // reports alone do not make a call
    for (const block of p.blocks) {
      // only reports on the call's own streams are kept: a flood about other sources grows nothing
      if (call.sources.has(block.source)) call.reports.set(block.source, { block, fromStation: p.src === call.station });
    }
  }

  /** Calls with a packet in the last `withinMs` (a consultation in progress). */
  inProgress(nowMs: number, withinMs: number): Array<{ station: string; far_network: string; started_at: string; duration_s: number }> {
    return [...this.#calls.values()]
      .filter((c) => nowMs - c.lastMs <= withinMs)
      .map((c) => ({
        station: c.station,
        far_network: networkOf(c.far),
        started_at: new Date(c.firstMs).toISOString(),
        duration_s: Math.round((c.lastMs - c.firstMs) / 1000),
      }));
  }

  /** The streams of the calls not ended yet; with `withinMs`, only those with a packet in that last while. */
  streams(nowMs: number, withinMs = Infinity): RtpStreamSummary[] {
    return [...this.#calls.values()].flatMap((c) => c.streams.active(nowMs, withinMs));
  }

  /** Calls whose last packet is older than the idle time: summarised and forgotten. */
  endIdle(nowMs: number): CallRecord[] {
    const ended: CallRecord[] = [];
    for (const [key, call] of this.#calls) {
      if (nowMs - call.lastMs < this.#o.idleMs) continue;
      this.#calls.delete(key);
      ended.push(this.#record(call));
    }
    return ended;
  }

  /** Every call still open, ended now (the daemon stopping, the end of a capture file). */
  endAll(): CallRecord[] {
    const ended = [...this.#calls.values()].map((c) => this.#record(c));
    this.#calls.clear();
    return ended;
  }

  #callFor(src: string, dst: string, timeMs: number): CallState | undefined {
    const key = keyOf(src, dst);
    const known = this.#calls.get(key);
    if (known) return known;
    if (this.#calls.size >= (this.#o.maxCalls ?? 64)) {
      this.overflow++;
      return undefined;
    }
    const dstIsStation = this.#o.isStation(dst) && !this.#o.isStation(src);
    const call: CallState = {
      station: dstIsStation ? dst : src,
      far: dstIsStation ? src : dst,
      firstMs: timeMs,
      lastMs: timeMs,
      streams: new RtpStreams({ clockRates: this.#clockRates, maxStreams: MAX_STREAMS_PER_CALL }),
      sources: new Set(),
      reports: new Map(),
    };
    this.#calls.set(key, call);
    return call;
  }

  #record(call: CallState): CallRecord {
    const rtt = this.#o.rttMs?.();
    const streams = call.streams.summaries().map((s) => this.#stream(call, s, rtt));
    const durationMs = call.lastMs - call.firstMs;
    const moses = streams.flatMap((s) => (s.audio ? [s.audio.mos] : []));
    return {
      kind: durationMs >= this.#o.minCallMs ? 'call' : 'attempt',
      started_at: new Date(call.firstMs).toISOString(),
      ended_at: new Date(call.lastMs).toISOString(),
      duration_s: Math.round(durationMs / 100) / 10,
      station: call.station,
      far_network: networkOf(call.far),
      media: [...new Set(streams.map((s) => s.media))].sort(),
      grade: worstGrade(streams.map((s) => s.grade)),
      ...(moses.length > 0 ? { mos: Math.min(...moses) } : {}),
      streams,
    };
  }

  #stream(call: CallState, s: RtpStreamSummary, rttMs: number | undefined): CallStream {
    const direction: CallDirection = s.src === call.station ? 'up' : 'down';
    const clockRate = call.streams.clockRateOf(s.payload_type);
    const media = mediaOf(clockRate);
    const audio = media === 'audio' ? rateAudio(s, rttMs) : undefined;
    const ssrc = Number.parseInt(s.ssrc, 16);
    const report = call.reports.get(ssrc);
    // the receiving side reports on a stream: the far end on ours (up), the station on theirs (down)
    const byReceiver = report && report.fromStation === (direction === 'down');
    const expected = this.#o.expectedDscp?.({ direction, station: call.station, far: call.far, farPort: direction === 'up' ? s.dst_port : s.src_port });
    const expectedName = expected === undefined ? undefined : dscpName(expected);
    return {
      direction,
      media,
      ssrc: s.ssrc,
      payload_type: s.payload_type,
      packets: s.packets,
      lost: s.lost,
      lost_pct: s.lost_pct,
      loss_runs: s.loss_runs,
      max_loss_burst: s.max_loss_burst,
      ...(s.mean_jitter_ms !== undefined ? { mean_jitter_ms: s.mean_jitter_ms } : {}),
      dscp: s.dscp,
      ...(expectedName ? { dscp_expected: expectedName, dscp_as_expected: Object.keys(s.dscp).every((name) => name === expectedName) } : {}),
      ...(audio ? { audio } : {}),
      grade: audio?.grade ?? networkGrade(Math.max(0, s.lost_pct), s.mean_jitter_ms),
      ...(byReceiver
        ? {
            far_end: {
              cumulative_lost: report.block.cumulativeLost,
              fraction_lost_pct: Number((report.block.fractionLost * 100).toFixed(2)),
              ...(clockRate ? { jitter_ms: Number(((report.block.jitter / clockRate) * 1000).toFixed(3)) } : {}),
            },
          }
        : {}),
    };
  }
}

function keyOf(a: string, b: string): string {
  return a < b ? `${a}|${b}` : `${b}|${a}`;
}
