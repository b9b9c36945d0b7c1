import type { LimitedMetric, Profile } from '../qualify/profiles.js';
import type { LinkState } from './degradation.js';
import type { LossEvidence } from './loss-evidence.js';

// How one probe window (or one throughput test) is judged, metric by metric, against the active
// profile's limits and against the link's own baseline: a +40 ms delay on a 5 ms link is a
// degradation long before it crosses a 100 ms profile limit. Each limit has an enter value
// (judged while the metric is OK) and a lower leave value (while it is not): the first half of
// the hysteresis; degradation.ts holds the second (windows in a row). A window's figures are
// estimates: the RTT and delay-variation rules judge their 99 % confidence interval (DEGRADED
// when all of it is past the enter value, OK again when all of it is inside the leave value),
// the loss rules a sequential test over the probe stream (loss-evidence.ts). docs/architecture.md
// ("Alerts") gives the false-alert rates and detection delays these make.

export type MonitoredMetric = 'reachability' | 'rtt_ms' | 'ipdv_ms' | 'loss_up_pct' | 'loss_down_pct' | 'dscp_up' | 'dscp_down' | 'up_mbps' | 'down_mbps';

export type DscpStatus = 'preserved' | 'remarked' | 'bleached';

export interface ProbeWindow {
  startedAt: number;
  endedAt: number;
  sent: number;
  received: number;
  rttMedianMs?: number;
  /** Median one-way delays each way, clock offset included (only their variation means anything). */
  oneWayRawMedianMs?: { up: number; down: number };
  /** 99 % confidence interval of the median RTT (order statistics). */
  rttMedianCiMs?: Interval;
  ipdvMeanMs?: number;
  /** 99 % confidence interval of the mean |IPDV| (normal approximation). */
  ipdvMeanCiMs?: Interval;
  lossUpPct: number;
  lossDownPct: number;
  /** Probes lost and probes that could have been, each way (the loss percentages' counts). */
  lossCounts?: { up: { lost: number; of: number }; down: { lost: number; of: number } };
  /** Undefined when the marks cannot be read (no CAP_NET_ADMIN here or at the responder). */
  dscpUp?: DscpStatus;
  dscpDown?: DscpStatus;
}

export interface Interval {
  low: number;
  high: number;
}

/** Sequential loss tests of the two directions, kept across windows by the monitor. */
export interface LossTests {
  up: LossEvidence;
  down: LossEvidence;
}

export interface Judgement {
  metric: MonitoredMetric;
  judged: LinkState;
  value: number | string;
  /** The limit the value was held against (enter or leave, whichever applied). */
  limit: number | string;
  unit: string;
}

export interface RuleOptions {
  profile: Profile;
  /** DEGRADED when the window's median RTT exceeds the baseline by this much. */
  rttIncreaseMs: number;
  /** DEGRADED when a throughput test gives less than this share of the best recent one. */
  throughputDropRatio: number;
}

/** Leave thresholds sit this far inside the enter ones. */
const LEAVE_FACTOR = 0.5;

/**
 * An estimate against an upper limit: while OK, DEGRADED only when even the low end of its
 * interval is past the enter value; while not OK, OK again only when its high end is within the
 * leave value. Without an interval the point value stands for both ends.
 */
function above(
  metric: MonitoredMetric,
  value: number,
  interval: Interval | undefined,
  enter: number,
  current: LinkState,
  unit: string,
  leave = enter * LEAVE_FACTOR,
): Judgement {
  const ends = interval ?? { low: value, high: value };
  const limit = current === 'ok' ? enter : leave;
  const degraded = current === 'ok' ? ends.low > enter : ends.high > leave;
  return { metric, judged: degraded ? 'degraded' : 'ok', value: round(value), limit: round(limit), unit };
}

function judgeLoss(metric: 'loss_up_pct' | 'loss_down_pct', test: LossEvidence, counts: { lost: number; of: number }, current: LinkState): Judgement {
  const verdict = test.observe(counts.lost, counts.of, current);
  return { metric, judged: verdict.judged, value: round(verdict.estimatePct), limit: test.limitPct, unit: '%' };
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

export function judgeProbeWindow(
  w: ProbeWindow,
  o: RuleOptions,
  baselineRttMs: number | undefined,
  current: (m: MonitoredMetric) => LinkState,
  loss: LossTests,
): Judgement[] {
  const limits = o.profile.limits;
  const out: Judgement[] = [];
  const reachable = w.received > 0;
  out.push({ metric: 'reachability', judged: reachable ? 'ok' : 'down', value: w.received, limit: 1, unit: 'replies' });
  if (!reachable) return out; // nothing else can be judged in a window without replies
  if (w.rttMedianMs !== undefined) {
    const profileMax = limits.rtt_ms?.max ?? Infinity;
    const fromBaseline = baselineRttMs === undefined ? Infinity : baselineRttMs + o.rttIncreaseMs;
    const enter = Math.min(profileMax, fromBaseline);
    const leave = Math.min(profileMax * 0.9, baselineRttMs === undefined ? Infinity : baselineRttMs + o.rttIncreaseMs * LEAVE_FACTOR);
    if (Number.isFinite(enter)) out.push(above('rtt_ms', w.rttMedianMs, w.rttMedianCiMs, enter, current('rtt_ms'), 'ms', leave));
  }
  if (w.ipdvMeanMs !== undefined && limits.ipdv_ms?.max !== undefined)
    out.push(above('ipdv_ms', w.ipdvMeanMs, w.ipdvMeanCiMs, limits.ipdv_ms.max, current('ipdv_ms'), 'ms'));
  if (limits.loss_pct?.max !== undefined) {
    const counts = w.lossCounts ?? { up: countsOf(w.lossUpPct, w.sent), down: countsOf(w.lossDownPct, w.sent) };
    out.push(judgeLoss('loss_up_pct', loss.up, counts.up, current('loss_up_pct')));
    out.push(judgeLoss('loss_down_pct', loss.down, counts.down, current('loss_down_pct')));
  }
  if (limits.dscp?.required) {
    for (const [metric, status] of [
      ['dscp_up', w.dscpUp],
      ['dscp_down', w.dscpDown],
    ] as const) {
      if (status !== undefined) out.push({ metric, judged: status === 'preserved' ? 'ok' : 'degraded', value: status, limit: 'preserved', unit: '' });
    }
  }
  return out;
}

function countsOf(pct: number, sent: number): { lost: number; of: number } {
  return { lost: Math.round((pct * sent) / 100), of: sent };
}

export function judgeThroughput(direction: 'up' | 'down', mbps: number, best: number | undefined, o: RuleOptions, current: LinkState): Judgement {
  const metric = direction === 'up' ? 'up_mbps' : 'down_mbps';
  const profileMin = o.profile.limits[metric]?.min ?? 0;
  const fromBest = best === undefined ? 0 : best * o.throughputDropRatio;
  const enter = Math.max(profileMin, fromBest);
  const leave = Math.max(profileMin, best === undefined ? 0 : best * (o.throughputDropRatio + (1 - o.throughputDropRatio) / 2));
  const limit = current === 'ok' ? enter : leave;
  return { metric, judged: mbps < limit ? 'degraded' : 'ok', value: round(mbps), limit: round(limit), unit: 'Mbit/s' };
}

const PROFILE_METRIC: Partial<Record<MonitoredMetric, LimitedMetric>> = {
  rtt_ms: 'rtt_ms',
  ipdv_ms: 'ipdv_ms',
  loss_up_pct: 'loss_pct',
  loss_down_pct: 'loss_pct',
  up_mbps: 'up_mbps',
  down_mbps: 'down_mbps',
};

/** The profiles (kinds of consultation) whose limits the measured value breaks. */
export function affectedProfiles(metric: MonitoredMetric, value: number | string, profiles: Iterable<Profile>): string[] {
  const names: string[] = [];
  for (const p of profiles) {
    if (metric === 'reachability') names.push(p.name);
    else if (metric === 'dscp_up' || metric === 'dscp_down') {
      if (p.limits.dscp?.required) names.push(p.name);
    } else {
      const limit = p.limits[PROFILE_METRIC[metric]!];
      if (typeof value !== 'number' || !limit) continue;
      if ((limit.max !== undefined && value > limit.max) || (limit.min !== undefined && value < limit.min)) names.push(p.name);
    }
  }
  return names;
}

/**
 * Lowest window median over a sliding period: the link's own RTT when all is well. A monotonic
 * queue (medians increasing from its head), so each window costs O(1) however many a day holds
 * (17 280 windows of 5 s).
 */
export class RttBaseline {
  readonly #queue: Array<{ at: number; median: number }> = [];
  #head = 0;
  constructor(readonly periodMs: number) {}

  add(at: number, median: number): void {
    while (this.#queue.length > this.#head && this.#queue.at(-1)!.median >= median) this.#queue.pop();
    this.#queue.push({ at, median });
    while (this.#queue[this.#head]!.at < at - this.periodMs) this.#head++;
    if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue.splice(0, this.#head);
      this.#head = 0;
    }
  }

  get value(): number | undefined {
    return this.#queue[this.#head]?.median;
  }
}
