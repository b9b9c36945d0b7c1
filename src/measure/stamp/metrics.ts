import { mean, percentileSorted, sortedCopy, standardDeviation, wilsonInterval, Z } from '../statistics.js';
import type { StampSessionResult } from './sender.js';

// The figures of one latency session, in the JSON contract of `probe latency --json`.
// IPDV [RFC 3393]: difference of the delays of consecutive packets, both received (round-trip
// delays unless one-way ones are valid); statistics on |IPDV| as irtt reports them.
// PDV [RFC 5481 §4.2]: delay minus the minimum delay of the session, reported as p99.

export interface LatencySummary {
  sent: number;
  received: number;
  loss_pct: number;
  /** Wilson 95 % interval of the loss rate, percent. */
  loss_interval_pct: { low: number; high: number };
  duplicates: number;
  reordered: number;
  rtt_ms: { min: number; median: number; mean: number; p95: number; p99: number; max: number; stddev: number };
  ipdv_ms: { mean: number; p95: number; max: number };
  pdv_ms: { p99: number };
  /** Present only when both clocks were synchronised. */
  one_way_ms?: { forward: { min: number; median: number; max: number }; backward: { min: number; median: number; max: number } };
  /** Forward/backward split of loss, from a stateful reflector's own sequence numbers. */
  loss_split?: { forward: number; backward: number; unattributed: number };
}

const ms = (ns: bigint): number => Number(ns) / 1e6;
const round = (x: number): number => (Number.isFinite(x) ? Math.round(x * 1000) / 1000 : x);

/** |IPDV| of consecutive probes both answered, ms [RFC 3393 §2.4]: one-way when the clocks allow, else RTT. */
export function absoluteIpdv(session: StampSessionResult): number[] {
  const ipdv: number[] = [];
  for (let i = 1; i < session.records.length; i++) {
    const a = session.records[i - 1]!;
    const b = session.records[i]!;
    if (a.rttNs === undefined || b.rttNs === undefined) continue;
    const delay = (r: typeof a): bigint => (session.oneWayValid && r.forwardNs !== undefined ? r.forwardNs : r.rttNs!);
    ipdv.push(Math.abs(ms(delay(b) - delay(a))));
  }
  return ipdv;
}

export function summariseLatency(session: StampSessionResult, fromSeq = 0): LatencySummary {
  if (fromSeq > 0)
    session = { ...session, records: session.records.filter((r) => r.seq >= fromSeq), sent: session.records.filter((r) => r.seq >= fromSeq).length };
  const received = session.records.filter((r) => r.rttNs !== undefined);
  const rtts = received.map((r) => ms(r.rttNs!));
  const sorted = sortedCopy(rtts);
  const lost = session.sent - received.length;
  const interval = wilsonInterval(lost, session.sent, Z[0.95]);

  const ipdv = absoluteIpdv(session);
  const ipdvSorted = sortedCopy(ipdv);
  const min = sorted[0] ?? NaN;
  const pdvSorted = sorted.map((x) => x - min);

  const summary: LatencySummary = {
    sent: session.sent,
    received: received.length,
    loss_pct: round(session.sent > 0 ? (100 * lost) / session.sent : 0),
    loss_interval_pct: { low: round(interval.low * 100), high: round(interval.high * 100) },
    duplicates: session.duplicates,
    reordered: session.reordered,
    rtt_ms: {
      min: round(min),
      median: round(percentileSorted(sorted, 0.5)),
      mean: round(mean(rtts)),
      p95: round(percentileSorted(sorted, 0.95)),
      p99: round(percentileSorted(sorted, 0.99)),
      max: round(sorted[sorted.length - 1] ?? NaN),
      stddev: round(standardDeviation(rtts)),
    },
    ipdv_ms: { mean: round(mean(ipdv)), p95: round(percentileSorted(ipdvSorted, 0.95)), max: round(ipdvSorted[ipdvSorted.length - 1] ?? NaN) },
    pdv_ms: { p99: round(percentileSorted(pdvSorted, 0.99)) },
  };
  if (session.oneWayValid && received.length > 0) {
    const fw = sortedCopy(received.map((r) => ms(r.forwardNs!)));
    const bw = sortedCopy(received.map((r) => ms(r.backwardNs!)));
    const stats = (s: number[]) => ({ min: round(s[0]!), median: round(percentileSorted(s, 0.5)), max: round(s[s.length - 1]!) });
    summary.one_way_ms = { forward: stats(fw), backward: stats(bw) };
  }
  const split = lossSplit(session);
  if (split) summary.loss_split = split;
  return summary;
}

/**
 * Forward/backward split of the loss, from a stateful reflector's own sequence numbers: between
 * two answered requests, the gap in the reflector's count is how many requests were lost on the
 * way there, the rest of the gap in ours came back lost (RFC 8762 §4.3: a
 * stateful reflector numbers what it received). Requests before the first answered one and
 * after the last one of the window may have been lost either way: unattributed. Works on a
 * window that starts past sequence 0 (the warm-up left out). Only meaningful when the numbers
 * differ somewhere (a stateless reflector copies ours) or when nothing was lost at all.
 */
function lossSplit(session: StampSessionResult): LatencySummary['loss_split'] {
  const answered = session.records.filter((r) => r.reflectorSeq !== undefined).sort((a, b) => a.seq - b.seq);
  const lost = session.sent - answered.length;
  if (lost === 0) return { forward: 0, backward: 0, unattributed: 0 };
  const first = answered[0];
  const last = answered.at(-1);
  if (!first || !last || !answered.some((r) => r.reflectorSeq !== r.seq)) return undefined;
  const forward = last.seq - last.reflectorSeq! - (first.seq - first.reflectorSeq!);
  const lostBetween = last.seq - first.seq + 1 - answered.length;
  // a reflector whose count went backwards (restarted, or its session evicted): no split
  if (forward < 0 || forward > lostBetween) return undefined;
  return { forward, backward: lostBetween - forward, unattributed: lost - lostBetween };
}
