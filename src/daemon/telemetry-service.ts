import type { CallRecord } from '../monitor/calls/call-tracker.js';
import { existsSync, statfsSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import type { LoadedConfig } from '../config/load.js';
import type { Logger } from '../log/logger.js';
import type { Alert } from '../monitor/alerts/alert.js';
import type { MonitorSnapshot } from '../monitor/link-monitor.js';
import type { ProbeWindow } from '../monitor/link-rules.js';
import { findProfile, loadProfiles, type Profile } from '../qualify/profiles.js';
import { loadSigningKey } from '../report/signing.js';
import { ReportOutbox } from '../report/upload/report-outbox.js';
import { hourOf, HourlySummary } from '../telemetry/hourly-summary.js';
import type { HeartbeatBody } from '../telemetry/telemetry-document.js';
import { TelemetrySender } from '../telemetry/telemetry-sender.js';
import type { HealthReport } from './health.js';

// The daemon's telemetry to the national collector: a heartbeat every telemetry.heartbeat_minutes
// (the first at start), a summary when each hour ends, and each alert as the monitor raises or
// clears it. Everything goes through the report outbox, so an outage only delays it.

/** systemd-timesyncd touches this file at each synchronisation [systemd-timesyncd.service(8)]. */
const TIMESYNC_FILE = '/run/systemd/timesync/synchronized';

export interface TelemetrySources {
  health: () => HealthReport;
  /** The uploader should try now. */
  queued: () => void;
}

export class TelemetryService {
  readonly #config: LoadedConfig;
  readonly #log: Logger;
  readonly #sources: TelemetrySources;
  readonly #now: () => number;
  #sender: TelemetrySender | undefined;
  #outbox: ReportOutbox | undefined;
  #profile: Profile | undefined;
  #hour: HourlySummary | undefined;

  get #countsCalls(): boolean {
    return this.#config.values.capture.interface !== '';
  }
  #heartbeatTimer: NodeJS.Timeout | undefined;
  #hourTimer: NodeJS.Timeout | undefined;
  status: 'running' | 'disabled' | 'stopped' = 'stopped';
  lastError: string | undefined;

  constructor(config: LoadedConfig, log: Logger, sources: TelemetrySources, now: () => number = Date.now) {
    this.#config = config;
    this.#log = log;
    this.#sources = sources;
    this.#now = now;
  }

  get sequence(): number | undefined {
    return this.#sender?.sequence;
  }

  start(): void {
    const { report: r, telemetry: t, site, monitor: m, qualify: q } = this.#config.values;
    if (!r.collector_url || t.heartbeat_minutes === 0) {
      this.status = 'disabled';
      return;
    }
    // no key, no telemetry: the part fails by name and the daemon retries it
    const key = loadSigningKey(r.signing_key_file);
    this.#outbox = new ReportOutbox(r.outbox_dir);
    this.#profile = findProfile(loadProfiles([q.profiles_dir]), m.profile || q.profile);
    this.#sender = new TelemetrySender({
      outbox: this.#outbox,
      key,
      site: {
        appliance_id: site.appliance_id || hostname(),
        establishment_code: site.establishment_code,
        establishment: site.establishment,
        region: site.region,
      },
      queued: this.#sources.queued,
      log: this.#log,
      now: this.#now,
    });
    this.#hour = new HourlySummary(hourOf(this.#now()), this.#profile, this.#countsCalls);
    this.status = 'running';
    this.#heartbeat();
    this.#heartbeatTimer = setInterval(() => this.#heartbeat(), t.heartbeat_minutes * 60_000);
    this.#heartbeatTimer.unref();
    this.#hourTimer = setInterval(() => this.#closeHourIfOver(), Math.min(60_000, t.heartbeat_minutes * 60_000));
    this.#hourTimer.unref();
    this.#log.info(
      { event: 'telemetry.started', heartbeat_minutes: t.heartbeat_minutes, sequence: this.#sender.sequence },
      `telemetry to the collector: a heartbeat every ${t.heartbeat_minutes} min, hourly summaries, alerts`,
    );
  }

  async stop(): Promise<void> {
    clearInterval(this.#heartbeatTimer);
    clearInterval(this.#hourTimer);
    this.#sender = undefined;
    if (this.status !== 'disabled') this.status = 'stopped';
  }

  // -- what the monitor tells

  onWindow(w: ProbeWindow, after: MonitorSnapshot): void {
    if (!this.#hour) return;
    this.#closeHourIfOver(w.startedAt);
    this.#hour.addWindow(w, after);
  }

  onThroughput(direction: 'up' | 'down', mbps: number, atMs: number): void {
    this.#hour?.addThroughput(direction, mbps, atMs);
  }

  /** A call (or attempt) seen by the capture ended: counted in the hour it ended. */
  onCall(call: CallRecord): void {
    this.#closeHourIfOver();
    this.#hour?.addCall(call);
  }

  onAlert(alert: Alert): void {
    if (!this.#sender) return;
    this.#hour?.addAlert(alert.kind);
    const { appliance: _appliance, affects: _affects, ...body } = alert;
    this.#guarded('alert', () => this.#sender!.send('alert', Date.parse(alert.since) || this.#now(), { alert: body }));
  }

  // -- heartbeats and hours

  #heartbeat(): void {
    this.#guarded('heartbeat', () => this.#sender?.send('heartbeat', this.#now(), { heartbeat: this.#heartbeatBody() }));
  }

  #heartbeatBody(): HeartbeatBody {
    const h = this.#sources.health();
    const link = h.link;
    const w = link?.last_window;
    const bridge = h.bridge;
    return {
      interval_s: this.#config.values.telemetry.heartbeat_minutes * 60,
      uptime_s: Math.max(0, Math.round(h.uptime_s)),
      link: {
        state: link?.state ?? 'unknown',
        since: link?.since ?? null,
        rtt_ms: w?.rttMedianMs ?? null,
        loss_up_pct: w ? w.lossUpPct : null,
        loss_down_pct: w ? w.lossDownPct : null,
      },
      outbox: { depth: bridge?.outbox_depth ?? 0, oldest_age_s: bridge?.outbox_oldest_age_s ?? null },
      report_outbox_depth: this.#outbox?.count() ?? 0,
      devices_connected: bridge?.devices_connected ?? null,
      hospital_connected: bridge ? bridge.hospital_connected : null,
      disk_free_mib: diskFreeMib(this.#config.values.report.outbox_dir),
      clock_synchronised: clockSynchronised(this.#now()),
    };
  }

  /** Sends the hour's summary once `at` (now, or a window's start) is past its end. */
  #closeHourIfOver(at: number = this.#now()): void {
    const hour = this.#hour;
    if (!hour || !this.#profile || at < hour.hourStart + 3_600_000) return;
    this.#hour = new HourlySummary(hourOf(at), this.#profile, this.#countsCalls);
    this.#guarded('hourly_summary', () => this.#sender?.send('hourly_summary', hour.hourStart + 3_600_000, { summary: hour.body() }));
  }

  #guarded(kind: string, send: () => unknown): void {
    try {
      send();
      this.lastError = undefined;
    } catch (err) {
      this.lastError = (err as Error).message;
      this.#log.error({ event: 'telemetry.queue_failed', kind, err: this.lastError }, `cannot queue the ${kind} for the collector: ${this.lastError}`);
    }
  }
}

function diskFreeMib(path: string): number | null {
  try {
    const s = statfsSync(path);
    return Math.round((s.bavail * s.bsize) / 1_048_576);
  } catch {
    return null;
  }
}

/** True when timesyncd synchronised within a day; null when it does not run here. */
function clockSynchronised(nowMs: number): boolean | null {
  if (!existsSync('/run/systemd/timesync')) return null;
  try {
    return nowMs - statSync(TIMESYNC_FILE).mtimeMs < 86_400_000;
  } catch {
    return false;
  }
}
