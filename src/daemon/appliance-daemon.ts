import { fileURLToPath } from 'node:url';
import type { LoadedConfig } from '../config/load.js';
import type { Logger } from '../log/logger.js';
import { parseClockRates } from '../monitor/rtp/rtp-streams.js';
import { VERSION } from '../version.js';
import { expectedDscpOf, stationNetworks, stationPredicate } from '../monitor/calls/stations.js';
import { CaptureService } from './capture-service.js';
import { DeviceBridgeService } from './device-bridge-service.js';
import { verdict, type HealthReport } from './health.js';
import type { DaemonPart } from './part.js';
import { Supervisor } from './supervisor.js';
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

// `usmp-edge run`: the appliance's parts under one supervisor (supervisor.ts) — broker and
// bridge, capture, monitor (it publishes its alerts on the broker and asks the capture whether a
// call is in progress), report upload, telemetry (fed by the monitor and the capture), then
// /metrics and /health — each started after what it depends on and stopped in the reverse order.
// A part that fails is reported by name and retried with backoff; the others keep running.
// SIGHUP reloads: only the parts whose configuration changed are restarted.

type PartName = 'broker_bridge' | 'capture' | 'monitor' | 'report_upload' | 'telemetry' | 'metrics';

const CLI = fileURLToPath(new URL('../cli.js', import.meta.url));

export class ApplianceDaemon {
  readonly #log: Logger;
  readonly #startedAt = Date.now();
  readonly #supervisor: Supervisor<PartName>;
  #bridge: DeviceBridgeService | undefined;
  #capture: CaptureService | undefined;
  #monitor: MonitorService | undefined;
  #metrics: MetricsServer | undefined;
  #reports: ReportUploader | undefined;
  #telemetry: TelemetryService | undefined;
  metricsAddress: { host: string; port: number } | undefined;

  constructor(config: LoadedConfig, log: Logger) {
    this.#log = log;
    const parts = [this.#bridgePart(), this.#capturePart(), this.#monitorPart(), this.#reportUploadPart(), this.#telemetryPart(), this.#metricsPart()];
    this.#supervisor = new Supervisor(parts, config, log);
  }

  get #config(): LoadedConfig {
    return this.#supervisor.config;
  }

  get listeners() {
    return this.#bridge?.listeners ?? [];
  }

  start(): Promise<void> {
    return this.#supervisor.start();
  }

  stop(): Promise<void> {
    return this.#supervisor.stop();
  }

  /** Applies a new, already validated configuration: restarts the parts it changes. */
  reload(next: LoadedConfig): Promise<string[]> {
    return this.#supervisor.reload(next);
  }

  health(): HealthReport {
    const parts = this.#supervisor.health();
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
            calls: this.#capture.calls.streams(Date.now(), 5000),
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

  #bridgePart(): DaemonPart<PartName> {
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

  #capturePart(): DaemonPart<PartName> {
    return {
      name: 'capture',
      // the QoS policy says which DSCP each call's streams should carry
      sections: ['capture', 'qos.classes', 'qos.up_mbps', 'qos.down_mbps'],
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

  #monitorPart(): DaemonPart<PartName> {
    return {
      name: 'monitor',
      sections: ['monitor', 'qualify', 'site'],
      dependsOn: ['broker_bridge', 'capture'],
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

  #metricsPart(): DaemonPart<PartName> {
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
  #telemetryPart(): DaemonPart<PartName> {
    return {
      name: 'telemetry',
      sections: ['telemetry', 'report', 'site', 'monitor.profile', 'qualify.profile', 'qualify.profiles_dir', 'capture.interface'],
      dependsOn: ['report_upload'],
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
  #reportUploadPart(): DaemonPart<PartName> {
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
