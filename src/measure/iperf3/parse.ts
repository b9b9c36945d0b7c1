// Receiver-side figures from iperf3 3.x JSON (-J). [esnet/iperf issues #692, #951]
// The sender's numbers count data still sitting in socket buffers, so we never use them for
// rates; and --omit summaries were buggy before 3.14, so we sum the receiver's non-omitted
// intervals ourselves.

/** Which way an iperf3 test sends: up (appliance → responder), down, or both at once. */
export type TestDirection = 'up' | 'down' | 'bidir';

interface IntervalSum {
  start?: number;
  seconds: number;
  bytes: number;
  omitted?: boolean;
  jitter_ms?: number;
  lost_packets?: number;
  packets?: number;
}

interface Interval {
  sum: IntervalSum;
  sum_bidir_reverse?: IntervalSum;
}

interface EndBlock {
  sum_sent?: { retransmits?: number; bytes?: number };
  sum_sent_bidir_reverse?: { retransmits?: number; bytes?: number };
  sum_received?: { bits_per_second: number };
  sum?: { jitter_ms?: number; lost_packets?: number; packets?: number; lost_percent?: number };
  sum_bidir_reverse?: { jitter_ms?: number; lost_packets?: number; packets?: number; lost_percent?: number };
  streams?: Array<{ sender?: { mean_rtt?: number; max_rtt?: number; min_rtt?: number } }>;
  cpu_utilization_percent?: { host_total: number; remote_total: number };
  sender_tcp_congestion?: string;
  receiver_tcp_congestion?: string;
}

export interface Iperf3Json {
  error?: string;
  start?: { test_start?: { protocol?: string; duration?: number; omit?: number } };
  intervals?: Interval[];
  end?: EndBlock;
  server_output_json?: { intervals?: Interval[]; end?: EndBlock };
}

export interface DirectionFigures {
  mbps: number;
  bytes: number;
  seconds: number;
  /** Per-second receiver rates, for the report's chart. */
  series_mbps: number[];
  retransmits?: number;
  /** Bytes the sender put on the wire, for RFC 6349 TCP efficiency. */
  sent_bytes?: number;
  /** Sender's smoothed TCP RTT over the test, ms (RFC 6349 buffer delay). */
  mean_tcp_rtt_ms?: number;
  loss_pct?: number;
  jitter_ms?: number;
  /** Where the receiver figures came from: the receiver's own intervals, or the client summary. */
  source: 'receiver-intervals' | 'client-summary';
}

export interface ParsedThroughput {
  up?: DirectionFigures;
  down?: DirectionFigures;
  cpu: { local_pct: number; remote_pct: number };
  /** TCP congestion control each end reported (the data sender's and receiver's), when iperf3 says. */
  congestion?: { sender?: string; receiver?: string };
}

/** iperf3 may print text after its JSON (#1143, #1631): take the first complete object. */
export function extractJson(stdout: string): Iperf3Json | undefined {
  const start = stdout.indexOf('{');
  if (start < 0) return undefined;
  let depth = 0;
  let inString = false;
  for (let i = start; i < stdout.length; i++) {
    const c = stdout[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '{') depth++;
    else if (c === '}' && --depth === 0) {
      try {
        return JSON.parse(stdout.slice(start, i + 1)) as Iperf3Json;
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}

function receiverIntervals(intervals: Interval[] | undefined, reverse: boolean): IntervalSum[] {
  const kept = (intervals ?? [])
    .map((i) => (reverse ? i.sum_bidir_reverse : i.sum))
    .filter((s): s is IntervalSum => s !== undefined && s.omitted !== true && s.seconds > 0);
  return dropOverlapping(kept);
}

/**
 * iperf 3.12 with --omit on a receiving client emits, right after the omitted seconds, an
 * interval that claims 2 s but holds 1 s of bytes, and the next one starts at the same time
 * (the --omit accounting bugs fixed in 3.14, esnet/iperf #1261, PR #1498). An interval that
 * the next one starts inside is such an artefact: drop it.
 */
export function dropOverlapping(sums: IntervalSum[]): IntervalSum[] {
  return sums.filter((s, i) => {
    const next = sums[i + 1];
    if (next?.start === undefined || s.start === undefined) return true;
    return next.start >= s.start + s.seconds - 0.05;
  });
}

function figures(sums: IntervalSum[]): Pick<DirectionFigures, 'mbps' | 'bytes' | 'seconds' | 'series_mbps'> {
  const bytes = sums.reduce((a, s) => a + s.bytes, 0);
  const seconds = sums.reduce((a, s) => a + s.seconds, 0);
  return {
    bytes,
    seconds,
    mbps: seconds > 0 ? (bytes * 8) / seconds / 1e6 : 0,
    series_mbps: sums.filter((s) => s.seconds >= 0.5).map((s) => Math.round((s.bytes * 8) / s.seconds / 1e4) / 100),
  };
}

/**
 * Which intervals hold the receiver's view: up → the server's (needs --get-server-output and a
 * server run with -J); down (-R) → ours; bidir → the server's "sum" and our reverse sum.
 */
export function parseThroughput(json: Iperf3Json, direction: TestDirection, udp: boolean): ParsedThroughput {
  const server = json.server_output_json;
  const result: ParsedThroughput = {
    cpu: { local_pct: json.end?.cpu_utilization_percent?.host_total ?? NaN, remote_pct: json.end?.cpu_utilization_percent?.remote_total ?? NaN },
  };
  const sender = json.end?.sender_tcp_congestion;
  const receiver = json.end?.receiver_tcp_congestion;
  if (sender !== undefined || receiver !== undefined) result.congestion = { ...(sender ? { sender } : {}), ...(receiver ? { receiver } : {}) };
  const wantUp = direction === 'up' || direction === 'bidir';
  const wantDown = direction === 'down' || direction === 'bidir';
  if (wantUp) {
    const sums = receiverIntervals(server?.intervals, false);
    const base = sums.length > 0 ? { ...figures(sums), source: 'receiver-intervals' as const } : clientSummary(json);
    result.up = {
      ...base,
      ...optional('retransmits', json.end?.sum_sent?.retransmits),
      ...optional('sent_bytes', json.end?.sum_sent?.bytes),
      ...optional('mean_tcp_rtt_ms', meanRtt(json.end)),
      ...(udp ? udpFigures(direction === 'bidir' ? json.end?.sum : json.end?.sum) : {}),
    };
  }
  if (wantDown) {
    const sums = receiverIntervals(json.intervals, direction === 'bidir');
    result.down = {
      ...figures(sums),
      source: 'receiver-intervals',
      ...optional('retransmits', direction === 'bidir' ? json.end?.sum_sent_bidir_reverse?.retransmits : server?.end?.sum_sent?.retransmits),
      ...optional('sent_bytes', direction === 'bidir' ? json.end?.sum_sent_bidir_reverse?.bytes : server?.end?.sum_sent?.bytes),
      ...optional('mean_tcp_rtt_ms', meanRtt(server?.end)),
      ...(udp ? udpFigures(direction === 'bidir' ? json.end?.sum_bidir_reverse : json.end?.sum) : {}),
    };
  }
  return result;
}

function clientSummary(json: Iperf3Json): Omit<DirectionFigures, 'retransmits'> {
  const bps = json.end?.sum_received?.bits_per_second ?? 0;
  return { mbps: bps / 1e6, bytes: 0, seconds: 0, series_mbps: [], source: 'client-summary' };
}

function meanRtt(end: EndBlock | undefined): number | undefined {
  const rtts = (end?.streams ?? []).map((s) => s.sender?.mean_rtt).filter((x): x is number => typeof x === 'number' && x > 0);
  return rtts.length > 0 ? rtts.reduce((a, b) => a + b, 0) / rtts.length / 1000 : undefined; // µs → ms
}

function udpFigures(sum: EndBlock['sum']): Partial<DirectionFigures> {
  if (!sum) return {};
  return { ...optional('loss_pct', sum.lost_percent), ...optional('jitter_ms', sum.jitter_ms) };
}

function optional<K extends string>(key: K, value: number | undefined): Partial<Record<K, number>> {
  return value === undefined || Number.isNaN(value) ? {} : ({ [key]: value } as Record<K, number>);
}
