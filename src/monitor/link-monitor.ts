import { randomUUID } from 'node:crypto';
import type { Logger } from '../log/logger.js';
import type { Profile } from '../qualify/profiles.js';
import { describe, kindOf, type Alert, type AlertSink } from './alerts/alert.js';
import { MetricState, worstOf, type Hysteresis, type LinkState, type Transition } from './degradation.js';
import {
  affectedProfiles,
  judgeProbeWindow,
  judgeThroughput,
  RttBaseline,
  type Judgement,
  type LossTests,
  type MonitoredMetric,
  type ProbeWindow,
  type RuleOptions,
} from './link-rules.js';
import { LossEvidence } from './loss-evidence.js';

// The link monitor: judges each probe window and throughput test, keeps one state machine per
// metric and one overall, and turns every state change into an alert for every sink.

export interface LinkMonitorOptions {
  profile: Profile;
  profiles: readonly Profile[];
  rules: Omit<RuleOptions, 'profile'>;
  hysteresis: Hysteresis;
  baselinePeriodMs: number;
  appliance: string;
  sinks: AlertSink[];
  /** Told the state after every judged window (the retained state topic). */
  onState?: (state: MonitorSnapshot) => void;
  /** True when a probe window overlaps one of our own throughput tests (not judged). */
  selfLoaded?: (from: number, to: number) => boolean;
  log: Logger;
  now?: () => number;
}

export interface MetricSnapshot {
  state: LinkState;
  since: string;
  value: number | string;
  limit: number | string;
  unit: string;
}

export interface MonitorSnapshot {
  state: LinkState;
  since: string;
  profile: string;
  metrics: Partial<Record<MonitoredMetric, MetricSnapshot>>;
  baseline_rtt_ms?: number;
  last_window?: ProbeWindow;
  windows_judged: number;
  windows_set_aside: number;
  throughput_mbps: { up?: number; down?: number };
}

const BEST_THROUGHPUT_KEPT = 8;

export class LinkMonitor {
  readonly #o: LinkMonitorOptions;
  readonly #now: () => number;
  readonly #metrics = new Map<MonitoredMetric, { machine: MetricState; last: Judgement }>();
  readonly #overall: MetricState;
  readonly #baseline: RttBaseline;
  readonly #throughput: Record<'up' | 'down', number[]> = { up: [], down: [] };
  readonly #loss: LossTests;
  #lastWindow: ProbeWindow | undefined;
  #judged = 0;
  #setAside = 0;

  constructor(options: LinkMonitorOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
    this.#overall = new MetricState({ enterWindows: 1, leaveWindows: 1 }, this.#now());
    this.#baseline = new RttBaseline(options.baselinePeriodMs);
    const lossLimit = options.profile.limits.loss_pct?.max ?? 1;
    this.#loss = { up: new LossEvidence(lossLimit), down: new LossEvidence(lossLimit) };
  }

  get state(): LinkState {
    return this.#overall.state;
  }

  /**
   * True while the loss evidence of a direction is building, or a direction is DEGRADED for
   * loss: the prober then sends its confirmation rate, so that a loss is told from chance, and
   * its end seen, in seconds rather than minutes.
   */
  get wantsConfirmation(): boolean {
    const degraded = (m: MonitoredMetric) => (this.#metrics.get(m)?.machine.state ?? 'ok') !== 'ok';
    return this.#loss.up.suspicious || this.#loss.down.suspicious || degraded('loss_up_pct') || degraded('loss_down_pct');
  }

  onWindow(w: ProbeWindow): void {
    this.#lastWindow = w;
    if (this.#o.selfLoaded?.(w.startedAt, w.endedAt)) {
      this.#setAside++;
      return;
    }
    this.#judged++;
    const baseline = this.#baseline.value;
    const judgements = judgeProbeWindow(
      w,
      { ...this.#o.rules, profile: this.#o.profile },
      baseline,
      (m) => this.#metrics.get(m)?.machine.state ?? 'ok',
      this.#loss,
    );
    if (w.rttMedianMs !== undefined) this.#baseline.add(w.endedAt, w.rttMedianMs);
    for (const j of judgements) this.#observe(j, w.endedAt);
    this.#settleOverall(w.endedAt);
  }

  onThroughput(direction: 'up' | 'down', mbps: number, at: number): void {
    const history = this.#throughput[direction];
    const best = history.length > 0 ? Math.max(...history) : undefined;
    const metric = direction === 'up' ? 'up_mbps' : 'down_mbps';
    this.#observe(judgeThroughput(direction, mbps, best, { ...this.#o.rules, profile: this.#o.profile }, this.#metrics.get(metric)?.machine.state ?? 'ok'), at);
    history.push(mbps);
    if (history.length > BEST_THROUGHPUT_KEPT) history.shift();
    this.#settleOverall(at);
  }

  snapshot(): MonitorSnapshot {
    const metrics: MonitorSnapshot['metrics'] = {};
    for (const [metric, { machine, last }] of this.#metrics) {
      metrics[metric] = { state: machine.state, since: new Date(machine.since).toISOString(), value: last.value, limit: last.limit, unit: last.unit };
    }
    const baseline = this.#baseline.value;
    return {
      state: this.#overall.state,
      since: new Date(this.#overall.since).toISOString(),
      profile: this.#o.profile.name,
      metrics,
      ...(baseline !== undefined ? { baseline_rtt_ms: baseline } : {}),
      ...(this.#lastWindow ? { last_window: this.#lastWindow } : {}),
      windows_judged: this.#judged,
      windows_set_aside: this.#setAside,
      throughput_mbps: { up: this.#throughput.up.at(-1), down: this.#throughput.down.at(-1) },
    };
  }

  #observe(j: Judgement, at: number): void {
    let entry = this.#metrics.get(j.metric);
    if (!entry) {
      // throughput comes one test at a time, hours apart: one test is enough either way
      const hysteresis = j.metric === 'up_mbps' || j.metric === 'down_mbps' ? { enterWindows: 1, leaveWindows: 1 } : this.#o.hysteresis;
      entry = { machine: new MetricState(hysteresis, at), last: j };
      this.#metrics.set(j.metric, entry);
    }
    entry.last = j;
    const t = entry.machine.observe(j.judged, at);
    if (t) this.#alert(j.metric, t, j);
  }

  #settleOverall(at: number): void {
    const worst = worstOf([...this.#metrics.values()].map((m) => m.machine.state));
    const t = this.#overall.observe(worst, at);
    if (t) {
      const culprits = [...this.#metrics].filter(([, m]) => m.machine.state !== 'ok').map(([name]) => name);
      this.#alert('overall', t, { metric: 'reachability', judged: worst, value: culprits.join(', ') || 'none', limit: 'none', unit: '' });
    }
    this.#o.onState?.(this.snapshot());
  }

  #alert(metric: MonitoredMetric | 'overall', t: Transition, j: Judgement): void {
    const affects =
      metric === 'overall'
        ? [
            ...new Set(
              [...this.#metrics].filter(([, m]) => m.machine.state !== 'ok').flatMap(([name, m]) => affectedProfiles(name, m.last.value, this.#o.profiles)),
            ),
          ]
        : t.to === 'ok'
          ? []
          : affectedProfiles(metric, j.value, this.#o.profiles);
    const base = {
      kind: kindOf(t.from, t.to),
      metric,
      state: t.to,
      previous: t.from,
      since: new Date(t.at).toISOString(),
      previous_duration_s: Math.round((t.at - t.previousSince) / 1000),
      measured: j.value,
      limit: j.limit,
      unit: j.unit,
      profile: this.#o.profile.name,
      affects,
      appliance: this.#o.appliance,
    };
    const alert: Alert = { id: randomUUID(), ...base, message: describe(base) };
    for (const sink of this.#o.sinks) {
      try {
        sink.deliver(alert);
      } catch (err) {
        this.#o.log.error({ event: 'alert.sink_failed', sink: sink.name, err: (err as Error).message }, 'an alert sink failed');
      }
    }
  }
}
