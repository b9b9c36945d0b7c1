import type { AutorateFile } from '../qos/autorate/state-file.js';
import type { BridgeSnapshot } from './bridge-observer.js';
import type { PartStatus } from './capture-service.js';
import type { MonitorSnapshot } from '../monitor/link-monitor.js';
import type { CallTally } from '../monitor/calls/call-ledger.js';
import type { RtpStreamSummary } from '../monitor/rtp/rtp-streams.js';

// What /health says and `usmp-edge check` reads: each part by name with its status, and one
// verdict. "failed": a part could not start or run (HTTP 503); "degraded": everything runs but
// the hospital is unreachable, the link is degraded or down, or a part is restarting.

export type HealthStatus = 'ok' | 'degraded' | 'failed';

export interface PartHealth {
  status: PartStatus;
  error?: string;
  [key: string]: unknown;
}

export interface HealthReport {
  status: HealthStatus;
  reasons: string[];
  version: string;
  uptime_s: number;
  parts: Record<string, PartHealth>;
  link?: MonitorSnapshot;
  bridge?: BridgeSnapshot;
  /** RTP streams with a packet in the last 5 s. */
  calls?: RtpStreamSummary[];
  calls_in_progress?: Array<{ station: string; far_network: string; started_at: string; duration_s: number }>;
  /** Calls and attempts that ended today (the appliance's local day), and since it started. */
  calls_today?: CallTally & { date: string };
  calls_total?: CallTally;
  /** What usmp-edge-qos-autorate.service last recorded, when autorate is enabled. */
  qos_autorate?: Pick<AutorateFile, 'state' | 'rates_mbps' | 'changes_total' | 'updated_at'>;
}

export function verdict(
  parts: Record<string, PartHealth>,
  link: MonitorSnapshot | undefined,
  bridge: BridgeSnapshot | undefined,
  upstreamConfigured: boolean,
): { status: HealthStatus; reasons: string[] } {
  const reasons: string[] = [];
  let status: HealthStatus = 'ok';
  for (const [name, part] of Object.entries(parts)) {
    if (part.status === 'failed') {
      status = 'failed';
      reasons.push(`${name} failed${part.error ? `: ${part.error}` : ''}`);
    } else if (part.status === 'restarting' || part.status === 'starting') {
      if (status === 'ok') status = 'degraded';
      reasons.push(`${name} ${part.status}${part.error ? `: ${part.error}` : ''}`);
    }
  }
  if (bridge && upstreamConfigured && !bridge.hospital_connected) {
    if (status === 'ok') status = 'degraded';
    reasons.push(`hospital broker not connected (outbox ${bridge.outbox_depth} messages)`);
  }
  if (bridge?.outbox_full) {
    if (status === 'ok') status = 'degraded';
    reasons.push('outbox full: devices are refused');
  }
  if (link && link.state !== 'ok') {
    if (status === 'ok') status = 'degraded';
    const bad = Object.entries(link.metrics)
      .filter(([, m]) => m.state !== 'ok')
      .map(([k, m]) => `${k} ${m.value}${m.unit ? ` ${m.unit}` : ''} (limit ${m.limit})`);
    reasons.push(`link ${link.state}: ${bad.join(', ')}`);
  }
  return { status, reasons };
}
