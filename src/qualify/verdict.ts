import type { Limit, LimitedMetric, Profile } from './profiles.js';

// One line per metric: value, limit, margin, verdict. A margin smaller than the measurement's
// stated uncertainty gives pass*/fail*, as cable certifiers mark marginal results
// (Fluke DSX, IDEAL LanTEK: a result within the tester's accuracy is starred).

export type LineVerdict = 'pass' | 'pass*' | 'fail*' | 'fail' | 'info';
export type GlobalVerdict = 'pass' | 'pass*' | 'fail*' | 'fail';

export interface VerdictLine {
  metric: string;
  value: number | string | null;
  limit: string | null;
  /** Positive: room left before the limit; negative: how far past it. */
  margin: number | null;
  uncertainty: number | null;
  verdict: LineVerdict;
  source: string;
  unit: string;
}

export interface MeasuredValue {
  value: number;
  uncertainty: number;
}

export const UNITS: Record<LimitedMetric, string> = {
  up_mbps: 'Mbit/s',
  down_mbps: 'Mbit/s',
  rtt_ms: 'ms',
  ipdv_ms: 'ms',
  pdv_ms: 'ms',
  loss_pct: '%',
  loaded_rtt_increase_ms: 'ms',
};

export function judge(metric: LimitedMetric, measured: MeasuredValue | undefined, limit: Limit): VerdictLine {
  const unit = UNITS[metric];
  const limitText = limit.min !== undefined ? `≥ ${limit.min}` : `≤ ${limit.max!}`;
  if (!measured || !Number.isFinite(measured.value)) {
    return { metric, value: null, limit: limitText, margin: null, uncertainty: null, verdict: 'fail', source: limit.source, unit };
  }
  const margin = limit.min !== undefined ? measured.value - limit.min : limit.max! - measured.value;
  let verdict: LineVerdict = margin >= 0 ? 'pass' : 'fail';
  if (Math.abs(margin) < measured.uncertainty) verdict = margin >= 0 ? 'pass*' : 'fail*';
  return {
    metric,
    value: round(measured.value),
    limit: limitText,
    margin: round(margin),
    uncertainty: round(measured.uncertainty),
    verdict,
    source: limit.source,
    unit,
  };
}

/** Any fail → fail; else any fail* → fail*; else any pass* → pass*; else pass. */
export function globalVerdict(lines: readonly VerdictLine[]): GlobalVerdict {
  const seen = new Set(lines.map((l) => l.verdict));
  if (seen.has('fail')) return 'fail';
  if (seen.has('fail*')) return 'fail*';
  if (seen.has('pass*')) return 'pass*';
  return 'pass';
}

export function judgeAll(profile: Profile, measured: Partial<Record<LimitedMetric, MeasuredValue>>): VerdictLine[] {
  const lines: VerdictLine[] = [];
  for (const [metric, limit] of Object.entries(profile.limits)) {
    if (metric === 'dscp' || !limit) continue;
    lines.push(judge(metric as LimitedMetric, measured[metric as LimitedMetric], limit));
  }
  return lines;
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
