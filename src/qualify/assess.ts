import type { LatencySummary } from '../measure/stamp/metrics.js';
import type { DirectionOutcome } from './dscp-check.js';
import { hint, type Lang } from './hints.js';
import type { Profile, LimitedMetric } from './profiles.js';
import type { QualificationData } from './run.js';
import { globalVerdict, judge, judgeAll, type GlobalVerdict, type MeasuredValue, type VerdictLine } from './verdict.js';

// From raw figures to what the auditor signs: the contract's measurements, one verdict line per
// limit of the profile, the global verdict, and what to do about each failure.

/** Relative uncertainty of a receiver-side TCP rate through a shaper, measured in the lab. */
export const THROUGHPUT_UNCERTAINTY = 0.02;
/** Above this CPU load the appliance, not the link, may have set the throughput figures. */
export const CPU_BOTTLENECK_PCT = 90;

export interface Measurements {
  up_mbps: number | null;
  down_mbps: number | null;
  rtt_ms: LatencySummary['rtt_ms'];
  ipdv_ms: LatencySummary['ipdv_ms'];
  pdv_ms: LatencySummary['pdv_ms'];
  loss_pct: number;
  loaded_rtt_increase_ms: number | null;
  loaded_rtt_increase_by_direction_ms: { up: number | null; down: number | null; both?: number | null };
  /** Loaded RTT over the loaded period of each load: one direction alone, and both at once. */
  loaded_rtt_ms: { up: LoadedRtt | null; down: LoadedRtt | null; both?: LoadedRtt | null };
  /** How the loads were generated (both ends' TCP congestion control, flows per direction). */
  load_model: { congestion_control: string; streams_per_direction: number };
  dscp: { up: string; down: string };
}

export type RemediationCategory = 'none' | 'qos' | 'link-upgrade' | 'internal-cabling';

export interface LoadedRtt {
  median: number;
  p95: number;
}

export interface Assessment {
  measurements: Measurements;
  lines: VerdictLine[];
  verdict: GlobalVerdict;
  remediation: { category: RemediationCategory; missing_mbps?: { up: number; down: number }; hints: string[] };
  appliance_bottleneck: boolean;
}

const round = (x: number): number => Math.round(x * 1000) / 1000;

export function assess(data: QualificationData, profile: Profile, lang: Lang = 'fr'): Assessment {
  const up = data.load.up.throughput.up?.mbps ?? null;
  const down = data.load.down.throughput.down?.mbps ?? null;
  // Medians over the loaded period, as Flent reports RRUL: a few probes caught before the
  // queue filled, or behind a retransmission burst, move neither.
  const increase = (loaded: LatencySummary | undefined): number | null =>
    loaded && Number.isFinite(loaded.rtt_ms.median) ? round(loaded.rtt_ms.median - data.idle.rtt_ms.median) : null;
  const incUp = increase(data.load.up.loaded);
  const incDown = increase(data.load.down.loaded);
  const incBoth = increase(data.load.bidir?.loaded);
  // The verdict takes the worse direction alone: each direction's queue, as bufferbloat is
  // graded. Both at once adds the two queues (a probe crosses both) and is reported beside it.
  const increases = [incUp, incDown].filter((x): x is number => x !== null);
  const worstIncrease = increases.length === 0 ? null : Math.max(...increases);
  const loadedFigures = (l: LatencySummary | undefined) => (l ? { median: l.rtt_ms.median, p95: l.rtt_ms.p95 } : null);
  const measurements: Measurements = {
    up_mbps: up === null ? null : round(up),
    down_mbps: down === null ? null : round(down),
    rtt_ms: data.idle.rtt_ms,
    ipdv_ms: data.idle.ipdv_ms,
    pdv_ms: data.idle.pdv_ms,
    loss_pct: data.idle.loss_pct,
    loaded_rtt_increase_ms: worstIncrease,
    loaded_rtt_increase_by_direction_ms: { up: incUp, down: incDown, ...(data.load.bidir ? { both: incBoth } : {}) },
    loaded_rtt_ms: {
      up: loadedFigures(data.load.up.loaded),
      down: loadedFigures(data.load.down.loaded),
      ...(data.load.bidir ? { both: loadedFigures(data.load.bidir.loaded) } : {}),
    },
    load_model: { congestion_control: data.load_model.congestionControl, streams_per_direction: data.load_model.streams },
    dscp: { up: data.dscp?.up ?? 'not-measured', down: data.dscp?.down ?? 'not-measured' },
  };

  const n = Math.max(1, data.idle.received);
  const measured: Partial<Record<LimitedMetric, MeasuredValue>> = {
    ...(up === null ? {} : { up_mbps: { value: up, uncertainty: up * THROUGHPUT_UNCERTAINTY } }),
    ...(down === null ? {} : { down_mbps: { value: down, uncertainty: down * THROUGHPUT_UNCERTAINTY } }),
    // mean RTT: twice its standard error, and never below irtt-class timestamping (0.3 ms)
    rtt_ms: { value: data.idle.rtt_ms.mean, uncertainty: Math.max(0.3, (2 * data.idle.rtt_ms.stddev) / Math.sqrt(n)) },
    ipdv_ms: { value: data.idle.ipdv_ms.mean, uncertainty: 0.3 },
    pdv_ms: { value: data.idle.pdv_ms.p99, uncertainty: Math.max(1, 0.1 * data.idle.pdv_ms.p99) },
    loss_pct: { value: data.idle.loss_pct, uncertainty: (data.idle.loss_interval_pct.high - data.idle.loss_interval_pct.low) / 2 },
    ...(worstIncrease === null ? {} : { loaded_rtt_increase_ms: { value: worstIncrease, uncertainty: 1 + 0.1 * Math.abs(worstIncrease) } }),
  };
  const lines = judgeAll(profile, measured);
  const lossLimit = profile.limits.loss_pct;
  if (data.ramp.length > 0 && lossLimit) {
    // [ITU-T Y.1564 §8.1 configuration test] every step of the ramp within the loss objective
    const worst = Math.max(...data.ramp.map((s) => s.loss_pct ?? 100));
    lines.push({
      ...judge('loss_pct', { value: worst, uncertainty: 0 }, lossLimit),
      metric: 'y1564_ramp_loss_pct',
      source: `ITU-T Y.1564 configuration test, UDP at 25/50/75/100 % of the profile rate; ${lossLimit.source}`,
    });
  }
  if (profile.limits.dscp && data.dscp) {
    for (const direction of ['up', 'down'] as const)
      lines.push(
        dscpLine(
          direction,
          data.dscp.classes.map((c) => c[direction]),
          profile.limits.dscp,
        ),
      );
  }
  // iperf3's own CPU figure catches a saturated core that the all-CPU average hides.
  const peakCpu = round(Math.max(data.cpu.max_pct, Number.isFinite(data.cpu.iperf_local_pct) ? data.cpu.iperf_local_pct : 0));
  const bottleneck = peakCpu >= CPU_BOTTLENECK_PCT;
  lines.push({
    metric: 'appliance_cpu_pct',
    value: peakCpu,
    limit: `< ${CPU_BOTTLENECK_PCT}`,
    margin: round(CPU_BOTTLENECK_PCT - peakCpu),
    uncertainty: null,
    verdict: 'info',
    source: 'A saturated appliance under-measures the link; its throughput figures are then a lower bound',
    unit: '%',
  });
  return { measurements, lines, verdict: globalVerdict(lines), remediation: remediate(lines, data, bottleneck, lang), appliance_bottleneck: bottleneck };
}

function dscpLine(direction: 'up' | 'down', outcomes: DirectionOutcome[], rule: NonNullable<Profile['limits']['dscp']>): VerdictLine {
  const altered = outcomes.find((o) => o.status === 'bleached' || o.status === 'remarked');
  const unverified = outcomes.find((o) => o.status === 'not-verified');
  let value = 'preserved';
  let verdict: VerdictLine['verdict'] = 'pass';
  if (altered && 'sent' in altered) {
    value = `${altered.sent} arrives as ${altered.received}`;
    verdict = rule.required ? 'fail' : 'info';
  } else if (unverified && 'reason' in unverified) {
    value = 'not verified';
    verdict = 'info';
  }
  const source = unverified && 'reason' in unverified ? `${rule.source}. Not verified: ${unverified.reason}` : rule.source;
  return { metric: `dscp_${direction}`, value, limit: `${rule.classes.join(', ')} kept`, margin: null, uncertainty: null, verdict, source, unit: '' };
}

function remediate(lines: VerdictLine[], data: QualificationData, bottleneck: boolean, lang: Lang): Assessment['remediation'] {
  const failed = (metric: string): VerdictLine | undefined => lines.find((l) => l.metric === metric && (l.verdict === 'fail' || l.verdict === 'fail*'));
  const hints: string[] = [];
  let category: RemediationCategory = 'none';
  const missing = { up: 0, down: 0 };
  for (const direction of ['up', 'down'] as const) {
    const line = failed(`${direction}_mbps`);
    if (line && typeof line.margin === 'number') {
      missing[direction] = round(-line.margin);
      hints.push(
        hint(direction === 'up' ? 'rate_up' : 'rate_down', lang, { value: String(line.value), limit: String(line.limit), missing: round(-line.margin) }),
      );
      category = 'link-upgrade';
    }
  }
  if (failed('rtt_ms')) hints.push(hint('rtt', lang, { value: String(failed('rtt_ms')!.value) }));
  if (failed('loss_pct')) hints.push(hint('loss', lang, { value: String(failed('loss_pct')!.value) }));
  if (failed('ipdv_ms') || failed('pdv_ms')) hints.push(hint('jitter', lang));
  if (failed('loaded_rtt_increase_ms')) {
    hints.push(hint('bloat', lang, { value: String(failed('loaded_rtt_increase_ms')!.value) }));
    if (category === 'none') category = 'qos';
  }
  for (const direction of ['up', 'down'] as const) {
    const line = failed(`dscp_${direction}`);
    if (line) {
      hints.push(hint(direction === 'up' ? 'dscp_up' : 'dscp_down', lang, { value: String(line.value) }));
      if (category === 'none') category = 'qos';
    }
  }
  if (data.host.problems.length > 0) {
    hints.push(...data.host.problems.map((problem) => hint('cabling', lang, { problem })));
    category = 'internal-cabling';
  }
  if (bottleneck) hints.push(hint('bottleneck', lang));
  const unverified = lines.filter((l) => l.metric.startsWith('dscp_') && l.value === 'not verified');
  if (unverified.length > 0) hints.push(hint('dscp_unverified', lang, { reason: unverified[0]!.source.split('Not verified: ')[1] ?? '' }));
  return { category, ...(category === 'link-upgrade' ? { missing_mbps: missing } : {}), hints };
}
