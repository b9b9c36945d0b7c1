import type { LimitedMetric, Profile } from '../qualify/profiles.js';
import type { LinkState } from './degradation.js';

// How one probe window (or one throughput test) is judged, metric by metric, against the active
// profile's limits [issue 6 §2] and against the link's own baseline: a +40 ms delay on a 5 ms
// link is a degradation long before it crosses a 100 ms profile limit. Each limit has an enter
// value (judged while the metric is OK) and a lower leave value (while it is not): the first
// half of the hysteresis; degradation.ts holds the second (windows in a row).

export type MonitoredMetric = 'reachability' | 'rtt_ms' | 'ipdv_ms' | 'loss_up_pct' | 'loss_down_pct' | 'dscp_up' | 'dscp_down' | 'up_mbps' | 'down_mbps';

export type DscpStatus = 'preserved' | 'remarked' | 'bleached';

export interface ProbeWindow {
  startedAt: number;
  endedAt: number;
  sent: number;
  received: number;
  rttMedianMs?: number;
  ipdvMeanMs?: number;
  lossUpPct: number;
  lossDownPct: number;
  /** Undefined when the marks cannot be read (no CAP_NET_ADMIN here or at the responder). */
  dscpUp?: DscpStatus;
  dscpDown?: DscpStatus;
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

function above(metric: MonitoredMetric, value: number, enter: number, current: LinkState, unit: string, leave = enter * LEAVE_FACTOR): Judgement {
  const limit = current === 'ok' ? enter : leave;
  return { metric, judged: value > limit ? 'degraded' : 'ok', value: round(value), limit: round(limit), unit };
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

export function judgeProbeWindow(w: ProbeWindow, o: RuleOptions, baselineRttMs: number | undefined, current: (m: MonitoredMetric) => LinkState): Judgement[] {
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
    if (Number.isFinite(enter)) out.push(above('rtt_ms', w.rttMedianMs, enter, current('rtt_ms'), 'ms', leave));
  }
  if (w.ipdvMeanMs !== undefined && limits.ipdv_ms?.max !== undefined) out.push(above('ipdv_ms', w.ipdvMeanMs, limits.ipdv_ms.max, current('ipdv_ms'), 'ms'));
  if (limits.loss_pct?.max !== undefined) {
    out.push(above('loss_up_pct', w.lossUpPct, limits.loss_pct.max, current('loss_up_pct'), '%'));
    out.push(above('loss_down_pct', w.lossDownPct, limits.loss_pct.max, current('loss_down_pct'), '%'));
  }
  if (limits.dscp?.required) {
    for (const [metric, status] of [['dscp_up', w.dscpUp], ['dscp_down', w.dscpDown]] as const) {
      if (status !== undefined) out.push({ metric, judged: status === 'preserved' ? 'ok' : 'degraded', value: status, limit: 'preserved', unit: '' });
    }
  }
  return out;
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

/** Lowest window median over a sliding period: the link's own RTT when all is well. */
export class RttBaseline {
  readonly #samples: Array<{ at: number; median: number }> = [];
  constructor(readonly periodMs: number) {}

  add(at: number, median: number): void {
    this.#samples.push({ at, median });
    while (this.#samples.length > 0 && this.#samples[0]!.at < at - this.periodMs) this.#samples.shift();
  }

  get value(): number | undefined {
    if (this.#samples.length === 0) return undefined;
    return Math.min(...this.#samples.map((s) => s.median));
  }
}
