import { hostname } from 'node:os';
import type { LoadedConfig } from '../config/load.js';
import type { Logger } from '../log/logger.js';
import { installAnnotation, senderRuleset, type Annotation } from '../measure/stamp/dscp-annotation.js';
import { resolveTarget } from '../measure/stamp/sender.js';
import { LogSink } from '../monitor/alerts/log-sink.js';
import { MqttSink, type LocalPublisher } from '../monitor/alerts/mqtt-sink.js';
import { WebhookSink } from '../monitor/alerts/webhook-sink.js';
import type { Alert, AlertSink } from '../monitor/alerts/alert.js';
import { LinkMonitor, type MonitorSnapshot } from '../monitor/link-monitor.js';
import type { ProbeWindow } from '../monitor/link-rules.js';
import { LinkProber } from '../monitor/link-prober.js';
import { ThroughputSchedule } from '../monitor/throughput-schedule.js';
import { dscpValue } from '../measure/dscp-names.js';
import { findProfile, loadProfiles } from '../qualify/profiles.js';
import type { PartStatus } from './capture-service.js';
import { loadModelFrom } from '../measure/iperf3/load-model.js';
import { configuredCredentials } from '../responder/appliance-credentials.js';

// The monitoring part of the daemon, wired from monitor.*: probes, throughput schedule, the
// judging monitor and its alert sinks. The DSCP of replies is read through our nftables
// annotation when this process may install it (CAP_NET_ADMIN), otherwise only the upstream
// marks (reported by the responder) are checked.

/** Told what the monitor sees (the daemon's telemetry to the collector). */
export interface MonitorObserver {
  onWindow(w: ProbeWindow, after: MonitorSnapshot): void;
  onThroughput(direction: 'up' | 'down', mbps: number, atMs: number): void;
  onAlert(alert: Alert): void;
}

export class MonitorService {
  readonly #config: LoadedConfig;
  readonly #log: Logger;
  readonly #publisher: LocalPublisher | undefined;
  readonly #callInProgress: () => boolean;
  readonly #observer: MonitorObserver | undefined;
  monitor: LinkMonitor | undefined;
  #prober: LinkProber | undefined;
  #schedule: ThroughputSchedule | undefined;
  #annotation: Annotation | undefined;
  #sinks: AlertSink[] = [];
  status: PartStatus = 'stopped';
  lastError: string | undefined;
  target = '';

  constructor(config: LoadedConfig, log: Logger, publisher: LocalPublisher | undefined, callInProgress: () => boolean, observer?: MonitorObserver) {
    this.#config = config;
    this.#log = log;
    this.#publisher = publisher;
    this.#callInProgress = callInProgress;
    this.#observer = observer;
  }

  async start(): Promise<void> {
    const { monitor: m, qualify: q, site } = this.#config.values;
    this.target = m.target || q.target;
    if (!this.target) {
      this.status = 'disabled';
      this.#log.warn({ event: 'monitor.disabled' }, 'monitor.target and qualify.target are empty: the link is not monitored');
      return;
    }
    const address = await resolveTarget(this.target);
    const credentials = configuredCredentials(this.#config.secrets);
    const profiles = loadProfiles([q.profiles_dir]);
    const profile = findProfile(profiles, m.profile || q.profile);
    const dscpClass = profile.limits.dscp?.required ? profile.limits.dscp.classes[0] : undefined;
    const dscp = dscpClass === undefined ? undefined : dscpValue(dscpClass);
    if (dscp !== undefined) {
      const table = `usmp_edge_monitor_${process.pid}`;
      const installed = await installAnnotation(table, senderRuleset(table, address, m.stamp_port));
      if ('unavailable' in installed)
        this.#log.warn(
          { event: 'monitor.dscp_down_unverified', reason: installed.unavailable },
          `the DSCP of replies cannot be read: ${installed.unavailable}`,
        );
      else this.#annotation = installed;
    }
    const log = this.#log;
    const mqtt = this.#publisher ? new MqttSink(this.#publisher, { state: m.alerts.state_topic, events: m.alerts.events_topic }, log) : undefined;
    const token = this.#config.secrets.get('monitor.alerts.webhook_token');
    this.#sinks = [
      new LogSink(log),
      ...(mqtt ? [mqtt] : []),
      ...(this.#observer ? [observerSink(this.#observer)] : []),
      ...(m.alerts.webhook_url
        ? [
            new WebhookSink({
              url: m.alerts.webhook_url,
              ...(token ? { authorization: `Bearer ${token}` } : {}),
              maxAttempts: Math.max(1, m.alerts.webhook_attempts),
              timeoutMs: 10_000,
              deadLetterFile: m.alerts.dead_letter_file,
              log,
            }),
          ]
        : []),
    ];
    const t = m.throughput;
    if (t.interval_min > 0) {
      this.#schedule = new ThroughputSchedule({
        target: address,
        ...(credentials ? { credential: credentials.iperf3 } : {}),
        ports: Array.from({ length: Math.max(1, t.iperf_ports) }, (_, i) => t.iperf_port + i),
        intervalMs: t.interval_min * 60_000,
        durationS: Math.min(10, Math.max(1, t.duration_s)),
        load: loadModelFrom(this.#config.values),
        offPeak: { fromHour: t.off_peak_from_hour, toHour: t.off_peak_to_hour },
        callInProgress: () => t.skip_during_calls && this.#callInProgress(),
        onResult: (direction, mbps, at) => {
          log.info({ event: 'monitor.throughput', direction, mbps }, `scheduled test: ${direction} ${mbps.toFixed(2)} Mbit/s`);
          this.monitor?.onThroughput(direction, mbps, at);
          this.#observer?.onThroughput(direction, mbps, at);
        },
        onSkipped: (reason) => log.info({ event: 'monitor.throughput_skipped', reason }, `scheduled throughput test skipped: ${reason}`),
        onError: (err) =>
          log.warn(
            { event: 'monitor.throughput_failed', err: err.message, code: (err as { code?: string }).code },
            `scheduled throughput test failed: ${err.message}`,
          ),
      });
    }
    const schedule = this.#schedule;
    this.monitor = new LinkMonitor({
      profile,
      profiles: [...profiles.values()],
      rules: { rttIncreaseMs: m.rtt_increase_ms, throughputDropRatio: 1 - t.drop_pct / 100 },
      hysteresis: { enterWindows: Math.max(1, m.enter_windows), leaveWindows: Math.max(1, m.leave_windows) },
      baselinePeriodMs: m.baseline_hours * 3_600_000,
      appliance: site.appliance_id || hostname(),
      sinks: this.#sinks,
      ...(mqtt ? { onState: (s) => mqtt.publishState(s) } : {}),
      ...(schedule ? { selfLoaded: (from: number, to: number) => schedule.overlapsTest(from, to) } : {}),
      log,
    });
    this.#prober = new LinkProber({
      target: address,
      port: m.stamp_port,
      windowMs: m.window_s * 1000,
      probesPerSecond: m.probes_per_s,
      confirmationPerSecond: m.confirmation_probes_per_s,
      wantsConfirmation: () => this.monitor?.wantsConfirmation ?? false,
      ...(dscp !== undefined ? { dscp } : {}),
      ...(credentials ? { credential: credentials.stamp } : {}),
      readsReplyDscp: this.#annotation !== undefined,
      onWindow: (w) => {
        this.lastError = undefined;
        this.monitor!.onWindow(w);
        this.#observer?.onWindow(w, this.monitor!.snapshot());
      },
      onError: (err) => {
        this.lastError = err.message;
        log.warn({ event: 'monitor.probe_failed', err: err.message }, `probe window failed: ${err.message}`);
      },
    });
    this.#prober.start();
    this.#schedule?.start();
    this.status = 'running';
    log.info(
      {
        event: 'monitor.started',
        target: this.target,
        profile: profile.name,
        window_s: m.window_s,
        probes_per_s: m.probes_per_s,
        confirmation_probes_per_s: m.confirmation_probes_per_s,
        dscp: dscpClass ?? null,
      },
      `monitoring ${this.target} against ${profile.name}`,
    );
  }

  async stop(): Promise<void> {
    await this.#prober?.stop();
    await this.#schedule?.stop();
    for (const sink of this.#sinks) await sink.close?.();
    await this.#annotation?.remove();
    if (this.status !== 'disabled') this.status = 'stopped';
  }
}

function observerSink(observer: MonitorObserver): AlertSink {
  return { name: 'telemetry', deliver: (alert) => observer.onAlert(alert) };
}
