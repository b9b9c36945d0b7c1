import { createServer, type Server } from 'node:http';
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { Logger } from '../log/logger.js';
import type { HealthReport } from './health.js';
import { splitHostPort } from '../config/formats.js';

// /metrics (Prometheus text format, prom-client) and /health (JSON). Values are
// read from the parts' snapshots when scraped, so nothing here keeps state of its own. Labels
// come from closed lists (metric names, reasons, directions), never from device input.

const STATE_VALUE = { ok: 0, degraded: 1, down: 2 } as const;

export class MetricsServer {
  readonly registry = new Registry();
  readonly #server: Server;
  readonly #health: () => HealthReport;
  readonly #log: Logger;
  /** The report of the scrape in progress: computed once, read by every metric. */
  #scraped: HealthReport | undefined;

  constructor(health: () => HealthReport, log: Logger) {
    this.#health = health;
    this.#log = log;
    collectDefaultMetrics({ register: this.registry, prefix: 'usmp_edge_' });
    this.#define();
    this.#server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (req.method !== 'GET') return void res.writeHead(405, { allow: 'GET' }).end();
      if (path === '/health') {
        const report = this.#health();
        res.writeHead(report.status === 'failed' ? 503 : 200, { 'content-type': 'application/json' }).end(`${JSON.stringify(report)}\n`);
        return;
      }
      if (path === '/metrics') {
        this.#scraped = this.#health();
        this.registry
          .metrics()
          .then(
            (text) => res.writeHead(200, { 'content-type': this.registry.contentType }).end(text),
            (err: Error) => {
              this.#log.error({ event: 'metrics.failed', err: err.message }, 'cannot render /metrics');
              res.writeHead(500).end();
            },
          )
          .finally(() => (this.#scraped = undefined));
        return;
      }
      res.writeHead(404, { 'content-type': 'text/plain' }).end('usmp-edge: /metrics or /health\n');
    });
  }

  /** Listens on host:port (port 0: any); resolves with the bound address. */
  listen(hostPort: string): Promise<{ host: string; port: number }> {
    const { host, port } = splitHostPort(hostPort);
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, host, () => {
        this.#server.off('error', reject);
        const address = this.#server.address() as { address: string; port: number };
        resolve({ host: address.address, port: address.port });
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
  }

  #define(): void {
    const r = this.registry;
    const h = () => (this.#scraped ??= this.#health());
    const gauge = (name: string, help: string, labelNames: string[], fill: (g: Gauge, report: HealthReport) => void) =>
      new Gauge({
        name: `usmp_edge_${name}`,
        help,
        labelNames,
        registers: [r],
        collect() {
          this.reset();
          fill(this, h());
        },
      });
    const counter = (name: string, help: string, labelNames: string[], fill: (c: Counter, report: HealthReport) => void) =>
      new Counter({
        name: `usmp_edge_${name}`,
        help,
        labelNames,
        registers: [r],
        collect() {
          this.reset();
          fill(this, h());
        },
      });

    gauge('up', 'Overall health: 0 ok, 1 degraded, 2 failed', [], (g, x) => g.set({ ok: 0, degraded: 1, failed: 2 }[x.status]));
    gauge('part_up', '1 when the part runs', ['part'], (g, x) => {
      for (const [part, p] of Object.entries(x.parts)) if (p.status !== 'disabled') g.set({ part }, p.status === 'running' ? 1 : 0);
    });
    gauge('link_state', 'Link state per metric and overall: 0 ok, 1 degraded, 2 down', ['metric'], (g, x) => {
      if (!x.link) return;
      g.set({ metric: 'overall' }, STATE_VALUE[x.link.state]);
      for (const [metric, m] of Object.entries(x.link.metrics)) g.set({ metric }, STATE_VALUE[m.state]);
    });
    gauge(
      'link_rtt_median_ms',
      'Median round-trip time of the last probe window',
      [],
      (g, x) => x.link?.last_window?.rttMedianMs !== undefined && g.set(x.link.last_window.rttMedianMs),
    );
    gauge(
      'link_rtt_baseline_ms',
      'Lowest window median RTT of the baseline period',
      [],
      (g, x) => x.link?.baseline_rtt_ms !== undefined && g.set(x.link.baseline_rtt_ms),
    );
    gauge(
      'link_ipdv_mean_ms',
      'Mean |IPDV| of the last probe window',
      [],
      (g, x) => x.link?.last_window?.ipdvMeanMs !== undefined && g.set(x.link.last_window.ipdvMeanMs),
    );
    gauge('link_loss_ratio', 'Probe loss of the last window per direction', ['direction'], (g, x) => {
      const w = x.link?.last_window;
      if (!w) return;
      g.set({ direction: 'up' }, w.lossUpPct / 100);
      g.set({ direction: 'down' }, w.lossDownPct / 100);
    });
    gauge('link_throughput_mbps', 'Last scheduled throughput test per direction', ['direction'], (g, x) => {
      for (const d of ['up', 'down'] as const) if (x.link?.throughput_mbps[d] !== undefined) g.set({ direction: d }, x.link.throughput_mbps[d]);
    });
    gauge('outbox_messages', 'Messages acknowledged to devices, not yet by the hospital', [], (g, x) => x.bridge && g.set(x.bridge.outbox_depth));
    gauge('outbox_bytes', 'Bytes of the outbox on disk', [], (g, x) => x.bridge && g.set(x.bridge.outbox_bytes));
    gauge('outbox_capacity_messages', 'Outbox capacity', [], (g, x) => x.bridge && g.set(x.bridge.outbox_capacity));
    gauge(
      'outbox_oldest_age_seconds',
      'Age of the oldest message waiting for the hospital',
      [],
      (g, x) => x.bridge && g.set(x.bridge.outbox_oldest_age_s ?? 0),
    );
    gauge('devices_connected', 'Devices connected to the broker', [], (g, x) => x.bridge && g.set(x.bridge.devices_connected));
    gauge(
      'hospital_connected',
      '1 when the bridge holds a connection to the hospital broker',
      [],
      (g, x) => x.bridge && g.set(x.bridge.hospital_connected ? 1 : 0),
    );
    gauge('bridge_in_flight', 'Messages sent to the hospital and not yet acknowledged', [], (g, x) => x.bridge && g.set(x.bridge.in_flight));
    gauge('bridge_rate_per_second', 'Messages per second in from devices and out to the hospital', ['direction'], (g, x) => {
      if (!x.bridge) return;
      g.set({ direction: 'in' }, x.bridge.in_per_s);
      g.set({ direction: 'out' }, x.bridge.out_per_s);
    });
    counter('bridge_messages_total', 'Messages sent to and acknowledged by the hospital, and refused by it', ['outcome'], (c, x) => {
      if (!x.bridge) return;
      c.inc({ outcome: 'sent' }, x.bridge.sent_total);
      c.inc({ outcome: 'acknowledged' }, x.bridge.acknowledged_total);
      c.inc({ outcome: 'rejected_by_hospital' }, x.bridge.rejected_by_hospital_total);
    });
    counter('broker_publishes_total', 'Publishes stored from devices', [], (c, x) => x.bridge && c.inc(x.bridge.broker.publishes_in));
    counter('broker_refused_total', 'Connections and publishes refused, by reason', ['reason'], (c, x) => {
      for (const [reason, n] of Object.entries(x.bridge?.broker.rejected ?? {})) c.inc({ reason }, n);
    });
    gauge('qos_autorate_rate_mbps', 'Shaped rate autorate holds now, per direction', ['direction'], (g, x) => {
      for (const d of ['up', 'down'] as const) if (x.qos_autorate) g.set({ direction: d }, x.qos_autorate.rates_mbps[d]);
    });
    gauge(
      'qos_autorate_state',
      'Autorate: 0 tracking the link, 1 starting, 2 frozen (no probe answered: the rates hold)',
      [],
      (g, x) => x.qos_autorate && g.set({ tracking: 0, starting: 1, frozen: 2 }[x.qos_autorate.state]),
    );
    counter('qos_autorate_changes_total', 'Rate changes made by autorate, per direction and reason', ['direction', 'reason'], (c, x) => {
      for (const d of ['up', 'down'] as const)
        for (const [reason, n] of Object.entries(x.qos_autorate?.changes_total[d] ?? {})) c.inc({ direction: d, reason }, n);
    });
    gauge('rtp_streams_active', 'RTP streams seen in the last 5 s (calls in progress)', [], (g, x) => x.calls && g.set(x.calls.length));
    gauge('rtp_jitter_ms', 'RFC 3550 interarrival jitter (mean) of active RTP streams', ['ssrc'], (g, x) => {
      for (const s of x.calls ?? []) if (s.mean_jitter_ms !== undefined) g.set({ ssrc: s.ssrc }, s.mean_jitter_ms);
    });
    gauge('rtp_lost_ratio', 'Lost share of active RTP streams', ['ssrc'], (g, x) => {
      for (const s of x.calls ?? []) g.set({ ssrc: s.ssrc }, s.lost_pct / 100);
    });
    gauge('calls_in_progress', 'Calls with a packet in the last 5 s', [], (g, x) => x.calls_in_progress && g.set(x.calls_in_progress.length));
    counter('calls_total', 'Calls seen on the network that ended, by grade (good, fair, poor)', ['grade'], (c, x) => {
      for (const [grade, n] of Object.entries(x.calls_total?.by_grade ?? {})) c.inc({ grade }, n);
    });
    counter('call_attempts_total', 'Calls shorter than capture.min_call_s, counted apart', [], (c, x) => x.calls_total && c.inc(x.calls_total.attempts));
    counter('call_minutes_total', 'Minutes of the calls that ended', [], (c, x) => x.calls_total && c.inc(x.calls_total.minutes));
    gauge('calls_today', "Calls that ended today (the appliance's local day)", [], (g, x) => x.calls_today && g.set(x.calls_today.calls));
  }
}
