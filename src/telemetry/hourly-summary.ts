import { percentileSorted, sortedCopy } from '../measure/statistics.js';
import type { MonitorSnapshot } from '../monitor/link-monitor.js';
import type { MonitoredMetric, ProbeWindow } from '../monitor/link-rules.js';
import type { Profile } from '../qualify/profiles.js';
import { countCall, emptyTally } from '../monitor/calls/call-ledger.js';
import type { CallRecord } from '../monitor/calls/call-tracker.js';
import type { MedianP95, SummaryBody } from './telemetry-document.js';

// One hour of monitoring, summed up as it happens: each judged probe window adds its figures
// and, for every metric not OK after it, its length to that metric's degraded minutes. The hour
// a window belongs to is the hour it started in. Percentiles are taken over the windows'
// medians (RTT) and means (IPDV) — what the monitor judged — as everywhere in the project
// (measure/statistics.ts, linear interpolation).

const HOUR_MS = 3_600_000;

export function hourOf(ms: number): number {
  return Math.floor(ms / HOUR_MS) * HOUR_MS;
}

export class HourlySummary {
  readonly hourStart: number;
  readonly #profile: Profile;
  #observedMs = 0;
  #availableMs = 0;
  readonly #rtt: number[] = [];
  readonly #ipdv: number[] = [];
  readonly #loss = { up: { lost: 0, of: 0 }, down: { lost: 0, of: 0 } };
  readonly #degradedMs = new Map<MonitoredMetric | 'overall', number>([['overall', 0]]);
  readonly #throughput: SummaryBody['throughput'] = [];
  readonly #alerts = { raised: 0, cleared: 0 };
  readonly #calls = emptyTally();

  /** Whether the appliance counts calls (a capture interface is set): otherwise the hour says nothing of them. */
  readonly #countsCalls: boolean;

  constructor(hourStart: number, profile: Profile, countsCalls = false) {
    this.hourStart = hourStart;
    this.#profile = profile;
    this.#countsCalls = countsCalls;
  }

  /** A probe window the monitor judged, with the monitor's states after it. */
  addWindow(w: ProbeWindow, after: Pick<MonitorSnapshot, 'state' | 'metrics'>): void {
    const ms = Math.max(0, Math.min(w.endedAt, this.hourStart + HOUR_MS) - Math.max(w.startedAt, this.hourStart));
    if (ms === 0) return;
    this.#observedMs += ms;
    if (after.state !== 'down') this.#availableMs += ms;
    if (after.state !== 'ok') this.#degradedMs.set('overall', this.#degradedMs.get('overall')! + ms);
    for (const [metric, m] of Object.entries(after.metrics) as Array<[MonitoredMetric, { state: string }]>) {
      if (m.state !== 'ok') this.#degradedMs.set(metric, (this.#degradedMs.get(metric) ?? 0) + ms);
    }
    if (w.rttMedianMs !== undefined) this.#rtt.push(w.rttMedianMs);
    if (w.ipdvMeanMs !== undefined) this.#ipdv.push(w.ipdvMeanMs);
    if (w.lossCounts) {
      for (const d of ['up', 'down'] as const) {
        this.#loss[d].lost += w.lossCounts[d].lost;
        this.#loss[d].of += w.lossCounts[d].of;
      }
    }
  }

  addThroughput(direction: 'up' | 'down', mbps: number, atMs: number): void {
    if (this.#throughput.length < 60) this.#throughput.push({ at: new Date(atMs).toISOString(), direction, mbps: round(mbps, 2) });
  }

  addAlert(kind: 'raised' | 'cleared' | 'changed'): void {
    if (kind === 'raised') this.#alerts.raised++;
    else if (kind === 'cleared') this.#alerts.cleared++;
  }

  /** A call (or attempt) that ended in this hour. */
  addCall(call: Pick<CallRecord, 'kind' | 'duration_s' | 'grade'>): void {
    countCall(this.#calls, call);
  }

  body(): SummaryBody {
    const limits = this.#profile.limits;
    const minutes = (ms: number) => round(ms / 60_000, 2);
    return {
      hour_start: new Date(this.hourStart).toISOString(),
      minutes_observed: minutes(this.#observedMs),
      profile: this.#profile.name,
      limits: { rtt_ms: limits.rtt_ms?.max ?? null, ipdv_ms: limits.ipdv_ms?.max ?? null, loss_pct: limits.loss_pct?.max ?? null },
      rtt_ms: medianP95(this.#rtt),
      ipdv_ms: medianP95(this.#ipdv),
      loss_pct: { up: lossPct(this.#loss.up), down: lossPct(this.#loss.down) },
      degraded_minutes: Object.fromEntries([...this.#degradedMs].map(([k, v]) => [k, minutes(v)])) as SummaryBody['degraded_minutes'],
      availability_pct: this.#observedMs === 0 ? null : round((100 * this.#availableMs) / this.#observedMs, 3),
      throughput: [...this.#throughput],
      alerts: { ...this.#alerts },
      ...(this.#countsCalls
        ? { calls: { calls: this.#calls.calls, attempts: this.#calls.attempts, minutes: this.#calls.minutes, ...this.#calls.by_grade } }
        : {}),
    };
  }
}

function medianP95(values: readonly number[]): MedianP95 | null {
  if (values.length === 0) return null;
  const sorted = sortedCopy(values);
  return { median: round(percentileSorted(sorted, 0.5), 3), p95: round(percentileSorted(sorted, 0.95), 3) };
}

function lossPct(c: { lost: number; of: number }): number | null {
  return c.of === 0 ? null : round((100 * c.lost) / c.of, 4);
}

function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
