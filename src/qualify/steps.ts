import { summariseLatency, type LatencySummary } from '../measure/stamp/metrics.js';
import { runStampSession, type StampSessionResult } from '../measure/stamp/sender.js';
import { runThroughput, type ThroughputResult } from '../measure/iperf3/client.js';
import type { TestDirection } from '../measure/iperf3/parse.js';
import { UsmpError } from '../errors.js';
import type { ProcessRunner } from '../exec/process-runner.js';
import type { LoadModel } from '../measure/iperf3/load-model.js';
import type { ResponderCredentials } from '../responder/appliance-credentials.js';

// The building blocks of a plan. Each returns raw material and its summary; the plan decides
// what they mean.

export interface StepContext {
  target: string;
  stampPort: number;
  iperfPorts: readonly number[];
  runner?: ProcessRunner;
  signal?: AbortSignal;
  synchronized: boolean;
  /** How the TCP loads behave: congestion control and flows per direction. */
  load: LoadModel;
  /** Live figures for the progress display. */
  onFigure?: (text: string) => void;
  /** This appliance's credentials at the responder (responder.auth required or both). */
  credentials?: ResponderCredentials;
}

export function stampAuth(ctx: { credentials?: ResponderCredentials }): { credential?: ResponderCredentials['stamp'] } {
  return ctx.credentials ? { credential: ctx.credentials.stamp } : {};
}

export function iperfAuth(ctx: { credentials?: ResponderCredentials }): { credential?: ResponderCredentials['iperf3'] } {
  return ctx.credentials ? { credential: ctx.credentials.iperf3 } : {};
}

export const PROBE_INTERVAL_MS = 20; // 50 packets/s, irtt's and Flent's RRUL step order
export const PROBE_SIZE = 44;

/** A few probes first: a responder that does not answer is an error, not a 100 % loss. */
export async function preflight(ctx: StepContext): Promise<void> {
  const session = await runStampSession({
    ...stampAuth(ctx),
    target: ctx.target,
    port: ctx.stampPort,
    count: 5,
    intervalMs: 100,
    size: PROBE_SIZE,
    waitMs: 1_500,
    ...(ctx.signal ? { signal: ctx.signal } : {}),
  });
  if (session.records.every((r) => r.rttNs === undefined)) {
    if (session.badHmac > 0) {
      throw new UsmpError('USMP_E_RESPONDER_CREDENTIALS', `the STAMP replies from ${ctx.target}:${ctx.stampPort} are not signed with this appliance's key`, {
        hint: 'the credentials file comes from another responder, or the appliance was enrolled again there: use the file its last enrolment wrote',
      });
    }
    throw new UsmpError('USMP_E_RESPONDER_ABSENT', `no STAMP reply from ${ctx.target}:${ctx.stampPort} within 2 s`, {
      hint: ctx.credentials
        ? "start `usmp-edge responder` at the hospital and allow UDP to its STAMP port; if it runs, it does not know this appliance's key (usmp-edge responder-keys list there; reload it after an enrolment)"
        : 'start `usmp-edge responder` at the hospital and allow UDP to its STAMP port; a responder with responder.auth required answers only enrolled appliances (qualify.responder_credentials_file)',
    });
  }
}

export async function latency(ctx: StepContext, seconds: number): Promise<{ session: StampSessionResult; summary: LatencySummary }> {
  let replies = 0;
  const session = await runStampSession({
    ...stampAuth(ctx),
    target: ctx.target,
    port: ctx.stampPort,
    count: Math.round((seconds * 1000) / PROBE_INTERVAL_MS),
    intervalMs: PROBE_INTERVAL_MS,
    size: PROBE_SIZE,
    synchronized: ctx.synchronized,
    ...(ctx.signal ? { signal: ctx.signal } : {}),
    onReply: (r) => {
      if (++replies % 25 === 0) ctx.onFigure?.(`RTT ${(Number(r.rttNs) / 1e6).toFixed(1)} ms`);
    },
  });
  return { session, summary: summariseLatency(session) };
}

export interface LoadedResult {
  throughput: ThroughputResult;
  loaded: LatencySummary;
  session: StampSessionResult;
}

/**
 * RRUL-style latency under load: STAMP probes run while the load model's TCP flows saturate
 * one direction or both; the probes of the warm-up seconds (iperf3's --omit, while the flows
 * ramp up) are left out, so the loaded figures cover the loaded period only.
 */
export async function throughputUnderLoad(ctx: StepContext, direction: TestDirection, seconds: number, omitS: number): Promise<LoadedResult> {
  const total = seconds + omitS;
  const probes = runStampSession({
    ...stampAuth(ctx),
    target: ctx.target,
    port: ctx.stampPort,
    count: Math.round((total * 1000) / PROBE_INTERVAL_MS),
    intervalMs: PROBE_INTERVAL_MS,
    size: PROBE_SIZE,
    synchronized: ctx.synchronized,
    ...(ctx.signal ? { signal: ctx.signal } : {}),
  });
  const throughput = runThroughput({
    ...iperfAuth(ctx),
    target: ctx.target,
    ports: ctx.iperfPorts,
    direction,
    protocol: 'tcp',
    durationS: seconds,
    omitS,
    parallel: ctx.load.streams,
    congestionControl: ctx.load.congestionControl,
    ...(ctx.runner ? { runner: ctx.runner } : {}),
    ...(ctx.signal ? { signal: ctx.signal } : {}),
  });
  // Both settle before we look at either, so nothing is left running on a failure.
  const [t, p] = await Promise.allSettled([throughput, probes]);
  if (t.status === 'rejected') throw t.reason;
  if (p.status === 'rejected') throw p.reason;
  const fromSeq = Math.round((omitS * 1000) / PROBE_INTERVAL_MS);
  return { throughput: t.value, session: p.value, loaded: summariseLatency(p.value, fromSeq) };
}

export async function udpStep(ctx: StepContext, direction: 'up' | 'down', mbps: number, seconds: number): Promise<ThroughputResult> {
  return runThroughput({
    ...iperfAuth(ctx),
    target: ctx.target,
    ports: ctx.iperfPorts,
    direction,
    protocol: 'udp',
    durationS: seconds,
    udpRateMbps: mbps,
    udpLengthBytes: 1200,
    ...(ctx.runner ? { runner: ctx.runner } : {}),
    ...(ctx.signal ? { signal: ctx.signal } : {}),
  });
}
