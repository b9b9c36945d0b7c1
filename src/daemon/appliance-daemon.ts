import { fileURLToPath } from 'node:url';
import type { LoadedConfig } from '../config/load.js';
import type { Logger } from '../log/logger.js';
import { parseClockRates } from '../monitor/rtp/rtp-streams.js';
import { VERSION } from '../version.js';
import { expectedDscpOf, stationNetworks, stationPredicate } from '../monitor/calls/stations.js';
import { CaptureService } from './capture-service.js';
import { DeviceBridgeService } from './device-bridge-service.js';
import { verdict, type HealthReport, type PartHealth } from './health.js';
import { readAutorateFile } from '../qos/autorate/state-file.js';
import { MetricsServer } from './metrics-server.js';
import { MonitorService } from './monitor-service.js';
import { TelemetryService } from './telemetry-service.js';
import type { Alert } from '../monitor/alerts/alert.js';
import type { MonitorSnapshot } from '../monitor/link-monitor.js';
import type { ProbeWindow } from '../monitor/link-rules.js';
import { collectorClient } from '../report/upload/collector-client.js';
import { ReportOutbox } from '../report/upload/report-outbox.js';
import { ReportUploader } from '../report/upload/report-uploader.js';

// `usmp-edge run`: the parts started in dependency order — broker and bridge (the
// monitor publishes its alerts on the broker), capture (the monitor asks it whether a call is in
// progress), monitor, then /metrics and /health — and stopped in the reverse order. A part that
// fails is reported by name and retried with backoff; the others keep running. SIGHUP reloads:
// only the parts whose configuration changed are restarted.

interface Part {
  name: string;
  /** Configuration keys (dotted paths) the part is built from: a change restarts it on reload. */
  sections: readonly string[];
  start(config: LoadedConfig): Promise<void>;
  stop(): Promise<void>;
  health(): PartHealth;
}

const CLI = fileURLToPath(new URL('../cli.js', import.meta.url));
const RETRY_MS = [5_000, 15_000, 60_000];

export class ApplianceDaemon {
  #config: LoadedConfig;
  readonly #log: Logger;
  readonly #startedAt = Date.now();
  readonly #parts: Part[];
  readonly #failed = new Map<string, { error: string; attempts: number; timer?: NodeJS.Timeout }>();
  #bridge: DeviceBridgeService | undefined;
  #capture: CaptureService | undefined;
  #monitor: MonitorService | undefined;
  #metrics: MetricsServer | undefined;
  #reports: ReportUploader | undefined;
  #telemetry: TelemetryService | undefined;
  metricsAddress: { host: string; port: number } | undefined;

  constructor(config: LoadedConfig, log: Logger) {
    this.#config = config;
    this.#log = log;
    this.#parts = [this.#bridgePart(), this.#capturePart(), this.#monitorPart(), this.#reportUploadPart(), this.#telemetryPart(), this.#metricsPart()];
  }

  get listeners() {
    return this.#bridge?.listeners ?? [];
  }

  async start(): Promise<void> {
    for (const part of this.#parts) await this.#startPart(part);
  }

  async stop(): Promise<void> {
    for (const f of this.#failed.values()) clearTimeout(f.timer);
    for (const part of [...this.#parts].reverse()) await this.#stopPart(part);
  }

  /** Applies a new, already validated configuration: restarts the parts it changes. */
  async reload(next: LoadedConfig): Promise<string[]> {
    const at = (values: unknown, path: string): string =>
      JSON.stringify(path.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], values));
    const changed = this.#parts.filter((p) => p.sections.some((s) => at(this.#config.values, s) !== at(next.values, s)));
    this.#config = next;
    for (const part of [...changed].reverse()) await this.#stopPart(part);
    for (const part of changed) await this.#startPart(part);
    return changed.map((p) => p.name);
  }

  health(): HealthReport {
    const parts = Object.fromEntries(
      this.#parts.map((p) => {
        const failed = this.#failed.get(p.name);
        return [p.name, failed ? ({ status: 'failed', error: failed.error, attempts: failed.attempts } satisfies PartHealth) : p.health()];
      }),
    );
    const link = this.#monitor?.monitor?.snapshot();
    const bridge = this.#bridge?.snapshot();
    const { status, reasons } = verdict(parts, link, bridge, this.#config.values.bridge.upstream.url !== '');
    const qos = this.#config.values.qos;
    const autorate = qos.autorate.enabled ? readAutorateFile(qos.state_dir) : undefined;
    return {
      status,
      reasons,
      version: VERSION,
      uptime_s: Math.round((Date.now() - this.#startedAt) / 1000),
      parts,
      ...(link ? { link } : {}),
      ...(bridge ? { bridge } : {}),
      ...(this.#capture
        ? {
            calls: this.#capture.streams.active(Date.now(), 5000),
            calls_in_progress: this.#capture.calls.inProgress(Date.now(), 5000),
            calls_today: this.#capture.ledger.today(Date.now()),
            calls_total: this.#capture.ledger.total,
          }
        : {}),
      ...(autorate
        ? { qos_autorate: { state: autorate.state, rates_mbps: autorate.rates_mbps, changes_total: autorate.changes_total, updated_at: autorate.updated_at } }
        : {}),
    };
  }

  async #startPart(part: Part): Promise<void> {
    const previous = this.#failed.get(part.name);
    clearTimeout(previous?.timer);
    try {
      await part.start(this.#config);
      if (previous) this.#log.info({ event: 'daemon.part_recovered', part: part.name }, `${part.name} is running again`);
      this.#failed.delete(part.name);
    } catch (err) {
      const attempts = (previous?.attempts ?? 0) + 1;
      const error = (err as Error).message;
      const retryMs = RETRY_MS[Math.min(attempts - 1, RETRY_MS.length - 1)]!;
      this.#log.error(
        { event: 'daemon.part_failed', part: part.name, err: error, code: (err as { code?: string }).code, attempts, retry_in_ms: retryMs },
        `${part.name} failed to start: ${error}`,
      );
      await part.stop().catch(() => undefined); // release what it opened before failing
      const timer = setTimeout(() => void this.#startPart(part), retryMs);
      timer.unref();
      this.#failed.set(part.name, { error, attempts, timer });
    }
  }

  async #stopPart(part: Part): Promise<void> {
    clearTimeout(this.#failed.get(part.name)?.timer);
    this.#failed.delete(part.name);
    try {
      await part.stop();
    } catch (err) {
      this.#log.error({ event: 'daemon.part_stop_failed', part: part.name, err: (err as Error).message }, `${part.name} did not stop cleanly`);
    }
  }

  #bridgePart(): Part {
    return {
      name: 'broker_bridge',
      sections: ['broker', 'bridge', 'site', 'monitor.alerts.readers'],
      start: async (config) => {
        this.#bridge = new DeviceBridgeService(config, this.#log);
        await this.#bridge.start();
      },
      stop: async () => {
        await this.#bridge?.stop();
        this.#bridge = undefined;
      },
      health: () => {
        const s = this.#bridge?.snapshot();
        return s
          ? { status: 'running', hospital_connected: s.hospital_connected, outbox_depth: s.outbox_depth, devices_connected: s.devices_connected }
          : { status: 'stopped' };
      },
    };
  }

  #capturePart(): Part {
    return {
      name: 'capture',
      sections: ['capture'],
      start: async (config) => {
        const c = config.values.capture;
        if (!c.interface) return;
        this.#capture = new CaptureService({
          argv: [process.execPath, CLI, 'capture-helper', '--iface', c.interface, '--filter', c.filter],
          ...(c.helper_socket ? { socketPath: c.helper_socket } : {}),
          iface: c.interface,
          filter: c.filter,
          clockRates: parseClockRates(c.clock_rates, 'capture.clock_rates'),
          idleMs: c.idle_s * 1000,
          minCallMs: c.min_call_s * 1000,
          isStation: stationPredicate(stationNetworks(c.station_networks, c.interface)),
          rttMs: () => this.#monitor?.monitor?.snapshot().last_window?.rttMedianMs,
          onCall: (call) => this.#telemetry?.onCall(call),
          expectedDscp: expectedDscpOf(config),
          log: this.#log.child({ module: 'capture' }),
        });
        this.#capture.start();
      },
      stop: async () => {
        await this.#capture?.stop();
        this.#capture = undefined;
      },
      health: () => {
        const c = this.#capture;
        if (!c) return { status: 'disabled' };
        return {
          status: c.status,
          pid: c.pid,
          restarts: c.restarts,
          ...(c.lastError && c.status !== 'running' ? { error: c.lastError } : {}),
          ...(c.lastStats ? { captured: c.lastStats } : {}),
        };
      },
    };
  }

  #monitorPart(): Part {
    return {
      name: 'monitor',
      sections: ['monitor', 'qualify', 'site'],
      start: async (config) => {
        const publisher = {
          publishLocal: (topic: string, payload: Buffer, qos: 0 | 1, retain?: boolean) =>
            this.#bridge ? this.#bridge.publishLocal(topic, payload, qos, retain) : Promise.reject(new Error('the broker is not running')),
        };
        const observer = {
          onWindow: (w: ProbeWindow, after: MonitorSnapshot) => this.#telemetry?.onWindow(w, after),
          onThroughput: (direction: 'up' | 'down', mbps: number, atMs: number) => this.#telemetry?.onThroughput(direction, mbps, atMs),
          onAlert: (alert: Alert) => this.#telemetry?.onAlert(alert),
        };
        this.#monitor = new MonitorService(config, this.#log.child({ module: 'monitor' }), publisher, () => this.#capture?.callInProgress() ?? false, observer);
        await this.#monitor.start();
      },
      stop: async () => {
        await this.#monitor?.stop();
        this.#monitor = undefined;
      },
      health: () => {
        const m = this.#monitor;
        if (!m) return { status: 'stopped' };
        const link = m.monitor?.state;
        return { status: m.status, ...(m.target ? { target: m.target } : {}), ...(link ? { link } : {}), ...(m.lastError ? { error: m.lastError } : {}) };
      },
    };
  }

  #metricsPart(): Part {
    return {
      name: 'metrics',
      sections: ['metrics'],
      start: async (config) => {
        if (!config.values.metrics.listen) return;
        this.#metrics = new MetricsServer(() => this.health(), this.#log.child({ module: 'metrics' }));
        this.metricsAddress = await this.#metrics.listen(config.values.metrics.listen);
        this.#log.info(
          { event: 'metrics.listening', ...this.metricsAddress },
          `/metrics and /health on ${this.metricsAddress.host}:${this.metricsAddress.port}`,
        );
      },
      stop: async () => {
        await this.#metrics?.close();
        this.#metrics = undefined;
      },
      health: () => ({ status: this.#metrics ? 'running' : 'disabled' }),
    };
  }

  /** Heartbeats, hourly summaries and alerts for the national collector, through the report outbox. */
  #telemetryPart(): Part {
    return {
      name: 'telemetry',
      sections: ['telemetry', 'report', 'site', 'monitor.profile', 'qualify.profile', 'qualify.profiles_dir'],
      start: async (config) => {
        this.#telemetry = new TelemetryService(config, this.#log.child({ module: 'telemetry' }), {
          health: () => this.health(),
          queued: () => this.#reports?.nudge(),
        });
        this.#telemetry.start();
      },
      stop: async () => {
        await this.#telemetry?.stop();
        this.#telemetry = undefined;
      },
      health: () => {
        const t = this.#telemetry;
        if (!t) return { status: 'stopped' };
        return { status: t.status, ...(t.sequence !== undefined ? { sequence: t.sequence } : {}), ...(t.lastError ? { error: t.lastError } : {}) };
      },
    };
  }

  /** Delivers the signed reports queued by `qualify` to the national collector, retrying. */
  #reportUploadPart(): Part {
    return {
      name: 'report_upload',
      sections: ['report'],
      start: async (config) => {
        const r = config.values.report;
        if (!r.collector_url) return;
        this.#reports = new ReportUploader({
          outbox: new ReportOutbox(r.outbox_dir),
          post: collectorClient(r.collector_url, r.collector_ca_file),
          log: this.#log.child({ module: 'report-upload' }),
          expiryDays: r.expiry_days,
          retryMinS: r.retry_min_s,
          retryMaxS: r.retry_max_s,
        });
        this.#reports.start();
      },
      stop: async () => {
        await this.#reports?.stop();
        this.#reports = undefined;
      },
      health: () => ({ status: this.#reports ? 'running' : 'disabled' }),
    };
  }
}
