import { setTimeout as sleep } from 'node:timers/promises';
import type { LoadedConfig } from '../config/load.js';
import { describeLinkLayer } from './link-layer.js';
import { describeAutorate, readAutorateFile } from './autorate/state-file.js';
import { UsmpError } from '../errors.js';
import { runThroughput, type ThroughputResult } from '../measure/iperf3/client.js';
import { summariseLatency } from '../measure/stamp/metrics.js';
import { runStampSession } from '../measure/stamp/sender.js';
import { minimumSenderLength } from '../measure/stamp/packets.js';
import { credentialsField } from '../responder/appliance-credentials.js';
import { iperfAuth, stampAuth } from '../qualify/steps.js';
import type { QosBackend } from './backend.js';
import { checkTarget } from './factory.js';
import { diffObjects, isEmptyDiff } from './objects.js';
import { shapedMbps, type QosPolicy } from './policy.js';
import { describeLoadModel, loadModelFrom } from '../measure/iperf3/load-model.js';

// `qos verify`: the proof that the policy protects the telemedicine flow, as a Y.1564
// "service performance test" [ITU-T Y.1564 §8.2]: best effort saturates both directions (TCP)
// while a flow of the class runs at its committed rate (UDP, as video does); we report the
// class's delivered rate, loss and latency increase, and what best effort still got.
// Run it from a station on the USMP LAN: the appliance's own traffic does not cross the
// LAN-side (download) queue of the linux backend.

export const VERIFY_LIMITS = { deliveredPct: 99, lossPct: 0.5, rttIncreaseMs: 5 } as const;
const WARMUP_S = 5;
const PROBE_INTERVAL_MS = 20;
// The class's rate is a rate on the wire; iperf3's -b counts UDP payload. A 1200-octet
// datagram is 1242 octets on Ethernet (+8 UDP, +20 IPv4, +14 Ethernet).
const DATAGRAM_PAYLOAD = 1200;
const PAYLOAD_SHARE = DATAGRAM_PAYLOAD / (DATAGRAM_PAYLOAD + 42);

export interface QosVerifyOptions {
  config: LoadedConfig;
  policy: QosPolicy;
  /** Absent when the policy is enforced on another host (the gateway of this station). */
  backend?: QosBackend | undefined;
  className?: string | undefined;
  durationS: number;
  iperfPort: number;
  poolSize?: number;
  onProgress?: (line: string) => void;
}

export interface VerifyLine {
  metric: string;
  value: number;
  limit: number;
  verdict: 'pass' | 'fail';
}

export interface VerifyResult {
  class: string;
  committed_mbps: number;
  /** The configured link-layer compensation, described. */
  link_layer: string;
  /** Autorate's rates and recent changes when it runs (null when it is off). */
  autorate: string | null;
  /** null: not readable from here (the policy is enforced on the gateway). */
  policy_in_force: boolean | null;
  duration_s: number;
  telemedicine: {
    up: { delivered_mbps: number; delivered_pct: number; loss_pct: number };
    down: { delivered_mbps: number; delivered_pct: number; loss_pct: number };
    rtt_idle_ms: { median: number; p95: number };
    rtt_loaded_ms: { median: number; p95: number };
    rtt_increase_ms: number;
    probe_loss_pct: number;
  };
  best_effort: { up_mbps: number; down_mbps: number; share_up_pct: number; share_down_pct: number; load: string };
  lines: VerifyLine[];
  verdict: 'pass' | 'fail';
}

export async function runQosVerify(o: QosVerifyOptions): Promise<VerifyResult> {
  const cls = o.className ? o.policy.classes.find((c) => c.name === o.className) : o.policy.classes[0];
  if (!cls)
    throw new UsmpError('USMP_E_USAGE', `no class named ${o.className ?? '?'} in the policy (classes: ${o.policy.classes.map((c) => c.name).join(', ')})`);
  const target = checkTarget(o.config);
  const port = o.config.values.qos.check_port;
  const pool = Array.from({ length: o.poolSize ?? 4 }, (_, i) => o.iperfPort + i);
  const rotate = (k: number): number[] => [...pool.slice(k), ...pool.slice(0, k)];
  const inForce = o.backend ? isEmptyDiff(diffObjects(o.backend.desired(o.policy), await o.backend.current())) : null;
  const progress = o.onProgress ?? (() => undefined);
  const credentials = credentialsField(o.config.secrets);

  progress(`idle latency to ${target}:${port} (3 s)`);
  const idle = summariseLatency(await runStampSession({ ...stampAuth(credentials), target, port, count: 150, intervalMs: PROBE_INTERVAL_MS, size: 44 }));
  if (idle.received === 0) throw new UsmpError('USMP_E_RESPONDER_ABSENT', `no STAMP reply from ${target}:${port}`);

  progress(`best effort saturating both directions (TCP), then ${cls.name} at ${cls.rateMbps} Mbit/s each way for ${o.durationS} s`);
  const total = o.durationS + WARMUP_S + 1;
  // Best effort is the load model's flows each way (bulk transfers open several connections,
  // and with the unit's own congestion control, not the appliance's default).
  const load = loadModelFrom(o.config.values);
  const bulk = { protocol: 'tcp' as const, durationS: total, parallel: load.streams, congestionControl: load.congestionControl };
  const beUp = runThroughput({ ...iperfAuth(credentials), target, ports: rotate(0), direction: 'up', ...bulk });
  const beDown = runThroughput({ ...iperfAuth(credentials), target, ports: rotate(1), direction: 'down', ...bulk });
  await sleep(WARMUP_S * 1000);
  // The probes ride in the class beside the test flow: the flow leaves them their wire rate, so
  // together they fill the class's rate, no more (authenticated probes are 112 octets, not 44).
  const probeWireMbps = ((1000 / PROBE_INTERVAL_MS) * (minimumSenderLength(false, credentials.credentials !== undefined) + 42) * 8) / 1e6;
  const udp = (direction: 'up' | 'down', k: number): Promise<ThroughputResult> =>
    runThroughput({
      ...iperfAuth(credentials),
      target,
      ports: rotate(k),
      direction,
      protocol: 'udp',
      durationS: o.durationS,
      udpRateMbps: round((cls.rateMbps - probeWireMbps) * PAYLOAD_SHARE),
      udpLengthBytes: DATAGRAM_PAYLOAD,
    });
  const [teleUp, teleDown, loadedSession] = await Promise.all([
    udp('up', 2),
    udp('down', 3),
    runStampSession({
      ...stampAuth(credentials),
      target,
      port,
      count: Math.floor((o.durationS * 1000) / PROBE_INTERVAL_MS),
      intervalMs: PROBE_INTERVAL_MS,
      size: 44,
    }),
  ]);
  const [bu, bd] = await Promise.all([beUp, beDown]);
  const loaded = summariseLatency(loadedSession);

  const figures = (r: ThroughputResult, d: 'up' | 'down') => {
    const f = r[d];
    // Steady state: iperf3's first and last seconds are partial (start-up, the last interval
    // cut by the end of the test) and read low whatever the network did.
    const series = f?.series_mbps ?? [];
    const steady = series.length >= 5 ? series.slice(1, -1).reduce((a, b) => a + b, 0) / (series.length - 2) : (f?.mbps ?? 0);
    const delivered = steady / PAYLOAD_SHARE + probeWireMbps; // back to a wire rate, with the probes' share, comparable with the class's
    return { delivered_mbps: round(delivered), delivered_pct: round((100 * delivered) / cls.rateMbps), loss_pct: round(f?.loss_pct ?? 100) };
  };
  const up = figures(teleUp, 'up');
  const down = figures(teleDown, 'down');
  const increase = round(loaded.rtt_ms.median - idle.rtt_ms.median);
  const lines: VerifyLine[] = [
    line('delivered_up_pct', up.delivered_pct, VERIFY_LIMITS.deliveredPct, up.delivered_pct >= VERIFY_LIMITS.deliveredPct),
    line('delivered_down_pct', down.delivered_pct, VERIFY_LIMITS.deliveredPct, down.delivered_pct >= VERIFY_LIMITS.deliveredPct),
    line('loss_up_pct', up.loss_pct, VERIFY_LIMITS.lossPct, up.loss_pct < VERIFY_LIMITS.lossPct),
    line('loss_down_pct', down.loss_pct, VERIFY_LIMITS.lossPct, down.loss_pct < VERIFY_LIMITS.lossPct),
    line('rtt_increase_ms', increase, VERIFY_LIMITS.rttIncreaseMs, increase <= VERIFY_LIMITS.rttIncreaseMs),
  ];
  const beUpMbps = bu.up?.mbps ?? 0;
  const beDownMbps = bd.down?.mbps ?? 0;
  return {
    class: cls.name,
    committed_mbps: cls.rateMbps,
    link_layer: describeLinkLayer(o.policy.linkLayer),
    autorate: o.config.values.qos.autorate.enabled ? describeAutorate(readAutorateFile(o.config.values.qos.state_dir), new Date()) : null,
    policy_in_force: inForce,
    duration_s: o.durationS,
    telemedicine: {
      up,
      down,
      rtt_idle_ms: { median: idle.rtt_ms.median, p95: idle.rtt_ms.p95 },
      rtt_loaded_ms: { median: loaded.rtt_ms.median, p95: loaded.rtt_ms.p95 },
      rtt_increase_ms: increase,
      probe_loss_pct: loaded.loss_pct,
    },
    best_effort: {
      load: describeLoadModel(load),
      up_mbps: round(beUpMbps),
      down_mbps: round(beDownMbps),
      share_up_pct: round((100 * beUpMbps) / shapedMbps(o.policy, 'up')),
      share_down_pct: round((100 * beDownMbps) / shapedMbps(o.policy, 'down')),
    },
    lines,
    verdict: lines.every((l) => l.verdict === 'pass') ? 'pass' : 'fail',
  };
}

export function formatVerify(r: VerifyResult): string[] {
  const t = r.telemedicine;
  return [
    `qos verify: class ${r.class} at ${r.committed_mbps} Mbit/s under best-effort saturation (${r.policy_in_force === null ? 'policy enforced on the gateway, not read from here' : r.policy_in_force ? 'configured policy in force' : 'configured policy NOT in force'}): ${r.verdict.toUpperCase()}`,
    `  link layer: ${r.link_layer}`,
    ...(r.autorate ? [`  autorate: ${r.autorate}`] : []),
    `  delivered up ${t.up.delivered_mbps} Mbit/s (${t.up.delivered_pct} %), down ${t.down.delivered_mbps} Mbit/s (${t.down.delivered_pct} %)`,
    `  loss up ${t.up.loss_pct} %, down ${t.down.loss_pct} %; probes lost ${t.probe_loss_pct} %`,
    `  RTT median idle ${t.rtt_idle_ms.median} ms, loaded ${t.rtt_loaded_ms.median} ms (+${t.rtt_increase_ms} ms); p95 ${t.rtt_idle_ms.p95} → ${t.rtt_loaded_ms.p95} ms`,
    `  best effort got up ${r.best_effort.up_mbps} Mbit/s (${r.best_effort.share_up_pct} % of the shaped rate), down ${r.best_effort.down_mbps} Mbit/s (${r.best_effort.share_down_pct} %); load: ${r.best_effort.load}`,
    ...r.lines.map((l) => `  ${l.verdict === 'pass' ? 'ok  ' : 'FAIL'} ${l.metric} ${l.value} (limit ${l.limit})`),
  ];
}

function line(metric: string, value: number, limit: number, ok: boolean): VerifyLine {
  return { metric, value, limit, verdict: ok ? 'pass' : 'fail' };
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
