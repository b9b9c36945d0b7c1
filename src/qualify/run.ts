import { checkHost, startCpuSampler, type HostCheck } from '../measure/host.js';
import type { LatencySummary } from '../measure/stamp/metrics.js';
import type { ThroughputResult } from '../measure/iperf3/client.js';
import { checkDscp, type DscpCheck } from './dscp-check.js';
import type { Profile } from './profiles.js';
import type { LoadModel } from '../measure/iperf3/load-model.js';
import { latency, preflight, throughputUnderLoad, udpStep, type StepContext } from './steps.js';

// The plans. quick: what an auditor runs by default, ≤ 90 s: idle latency, then latency under
// each direction's load alone and under both at once (as Flent's RRUL does). full: adds a
// Y.1564-style UDP ramp to the profile's rate and longer TCP tests with RFC 6349 metrics.
// [ITU-T Y.1564 §8; RFC 6349 §3]

export type PlanName = 'quick' | 'full';

export interface ProgressEvent {
  index: number;
  total: number;
  label: string;
  elapsedS: number;
  detail?: string;
  done?: boolean;
}

export interface RampStep {
  direction: 'up' | 'down';
  offered_mbps: number;
  received_mbps: number;
  loss_pct: number | null;
  jitter_ms: number | null;
}

export interface Rfc6349 {
  direction: 'up' | 'down';
  tcp_efficiency_pct: number | null;
  buffer_delay_pct: number | null;
}

export interface QualificationData {
  plan: PlanName;
  load_model: LoadModel;
  idle: LatencySummary;
  load: {
    up: { throughput: ThroughputResult; loaded: LatencySummary };
    down: { throughput: ThroughputResult; loaded: LatencySummary };
    bidir?: { throughput: ThroughputResult; loaded: LatencySummary };
  };
  ramp: RampStep[];
  rfc6349: Rfc6349[];
  dscp: DscpCheck | null;
  host: HostCheck;
  cpu: { mean_pct: number; max_pct: number; iperf_local_pct: number };
  raw: Record<string, unknown>;
}

interface PlanShape {
  idleS: number;
  tcpS: number;
  omitS: number;
  rampShares: number[];
  rampStepS: number;
  bidirS: number;
}

const PLANS: Record<PlanName, PlanShape> = {
  quick: { idleS: 15, tcpS: 10, omitS: 2, rampShares: [], rampStepS: 0, bidirS: 10 },
  full: { idleS: 30, tcpS: 20, omitS: 3, rampShares: [0.25, 0.5, 0.75, 1], rampStepS: 5, bidirS: 20 },
};

export async function runQualification(
  ctx: StepContext,
  profile: Profile,
  plan: PlanName,
  onProgress: (e: ProgressEvent) => void = () => undefined,
): Promise<QualificationData> {
  const shape = PLANS[plan];
  const started = Date.now();
  const steps = ['responder check', 'idle latency', 'TCP upload + latency under load', 'TCP download + latency under load'];
  if (shape.rampShares.length > 0) steps.push('UDP ramp (Y.1564)');
  if (shape.bidirS > 0) steps.push('both directions at once');
  if (profile.limits.dscp) steps.push('DSCP marks');
  let index = 0;
  const begin = (label: string): void => onProgress({ index: ++index, total: steps.length, label, elapsedS: (Date.now() - started) / 1000 });
  const figure = (detail: string): void =>
    onProgress({ index, total: steps.length, label: steps[index - 1] ?? '', elapsedS: (Date.now() - started) / 1000, detail });
  const stepCtx: StepContext = { ...ctx, onFigure: figure };

  // Before any timing: systeminformation runs blocking shell commands (tens of ms) that would
  // show up as latency outliers if they ran during the STAMP windows.
  const host = await checkHost(ctx.target, ctx.runner);
  begin(steps[0]!);
  await preflight(stepCtx);
  begin(steps[1]!);
  const idle = await latency(stepCtx, shape.idleS);
  figure(`RTT mean ${idle.summary.rtt_ms.mean} ms, loss ${idle.summary.loss_pct} %`);

  const cpu = startCpuSampler();
  begin(steps[2]!);
  const up = await throughputUnderLoad(stepCtx, 'up', shape.tcpS, shape.omitS);
  figure(`${up.throughput.up?.mbps.toFixed(2)} Mbit/s, loaded RTT ${up.loaded.rtt_ms.median} ms (median)`);
  begin(steps[3]!);
  const down = await throughputUnderLoad(stepCtx, 'down', shape.tcpS, shape.omitS);
  figure(`${down.throughput.down?.mbps.toFixed(2)} Mbit/s, loaded RTT ${down.loaded.rtt_ms.median} ms (median)`);

  const ramp: RampStep[] = [];
  if (shape.rampShares.length > 0) {
    begin('UDP ramp (Y.1564)');
    for (const direction of ['up', 'down'] as const) {
      const rate = profile.limits[direction === 'up' ? 'up_mbps' : 'down_mbps']?.min ?? 1;
      for (const share of shape.rampShares) {
        const r = await udpStep(stepCtx, direction, rate * share, shape.rampStepS);
        const f = r[direction]!;
        ramp.push({ direction, offered_mbps: rate * share, received_mbps: round(f.mbps), loss_pct: f.loss_pct ?? null, jitter_ms: f.jitter_ms ?? null });
        figure(`${direction} ${rate * share} Mbit/s offered: loss ${f.loss_pct ?? '?'} %`);
      }
    }
  }
  let bidir: QualificationData['load']['bidir'];
  let bidirRtts: Array<number | null> = [];
  if (shape.bidirS > 0) {
    begin('both directions at once');
    const b = await throughputUnderLoad(stepCtx, 'bidir', shape.bidirS, shape.omitS);
    bidir = { throughput: b.throughput, loaded: b.loaded };
    bidirRtts = b.session.records.map((r) => (r.rttNs === undefined ? null : Number(r.rttNs)));
    figure(`loaded RTT ${b.loaded.rtt_ms.median} ms (median)`);
  }
  const cpuFigures = cpu.stop();

  let dscp: DscpCheck | null = null;
  if (profile.limits.dscp) {
    begin('DSCP marks');
    dscp = await checkDscp(stepCtx, profile.limits.dscp.classes, ctx.runner);
  }
  onProgress({ index: steps.length, total: steps.length, label: 'done', elapsedS: (Date.now() - started) / 1000, done: true });

  return {
    plan,
    load_model: ctx.load,
    idle: idle.summary,
    load: { up: { throughput: up.throughput, loaded: up.loaded }, down: { throughput: down.throughput, loaded: down.loaded }, ...(bidir ? { bidir } : {}) },
    ramp,
    rfc6349: plan === 'full' ? [rfc6349('up', up.throughput, idle.summary), rfc6349('down', down.throughput, idle.summary)] : [],
    dscp,
    host,
    cpu: { ...cpuFigures, iperf_local_pct: Math.max(up.throughput.cpu.local_pct, down.throughput.cpu.local_pct) },
    raw: {
      idle_rtt_ns: idle.session.records.map((r) => (r.rttNs === undefined ? null : Number(r.rttNs))),
      up_loaded_rtt_ns: up.session.records.map((r) => (r.rttNs === undefined ? null : Number(r.rttNs))),
      down_loaded_rtt_ns: down.session.records.map((r) => (r.rttNs === undefined ? null : Number(r.rttNs))),
      bidir_loaded_rtt_ns: bidirRtts,
      up_series_mbps: up.throughput.up?.series_mbps ?? [],
      down_series_mbps: down.throughput.down?.series_mbps ?? [],
    },
  };
}

/**
 * RFC 6349 §3.3: TCP efficiency = (transmitted − retransmitted bytes) / transmitted bytes;
 * buffer delay = (mean RTT during transfer − baseline RTT) / baseline RTT. Retransmitted
 * bytes are estimated as retransmits × MSS (1448).
 */
function rfc6349(direction: 'up' | 'down', t: ThroughputResult, idle: LatencySummary): Rfc6349 {
  const f = t[direction];
  const efficiency = f?.sent_bytes && f.retransmits !== undefined ? (100 * (f.sent_bytes - f.retransmits * 1448)) / f.sent_bytes : null;
  const buffer = f?.mean_tcp_rtt_ms !== undefined && idle.rtt_ms.min > 0 ? (100 * (f.mean_tcp_rtt_ms - idle.rtt_ms.mean)) / idle.rtt_ms.mean : null;
  return { direction, tcp_efficiency_pct: efficiency === null ? null : round(efficiency), buffer_delay_pct: buffer === null ? null : round(buffer) };
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
