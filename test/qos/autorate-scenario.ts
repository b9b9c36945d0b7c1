import { writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ChildProcess } from 'node:child_process';
import { ADDRESSES, type Lab } from '../lab/index.js';
import { CLI, cliIn } from '../lab/cli-in-lab.js';
import { exitOf } from '../fixtures/bounded.js';
import { readAutorateFile } from '../../src/qos/autorate/state-file.js';
import { percentile } from '../../src/measure/statistics.js';
import { labPolicy, type ConfigDir } from './fixtures.js';

// Fixed shaping against autorate on a link whose capacity halves, side by side in one lab (the
// test and the qos-proof benchmark run it). Best effort saturates both ways (4 TCP flows each
// way, cubic); a call in the video class (irtt, 200-octet packets every 20 ms) is timed the
// whole while. The lab halves both directions at HALVE_AT, restores them at RESTORE_AT. The
// ground truth is measured: the call's RTT (irtt, its own clock), best effort's goodput
// (iperf3's receivers), the rates autorate set (its state file), against the link the lab set.

export const VOICE_PORT = 2112;
const WARM_S = 15;

export interface PhaseTrace {
  /** Median RTT of the call before any load, ms. */
  idleMs: number;
  /** Per 5 s of the run (from the load's start): the call's median RTT increase over idle, ms. */
  increaseMs: Array<{ fromS: number; ms: number }>;
  /** Best effort's goodput per second, up and down, Mbit/s, from the load's start. */
  bestEffortMbps: Array<{ atS: number; up: number; down: number }>;
  halveAtS: number;
  restoreAtS: number | undefined;
  /** Autorate's last rate changes (its history keeps 50), seconds from the load's start. */
  rates: Array<{ atS: number; direction: 'up' | 'down'; mbps: number }>;
  /** All its rate changes, counted. */
  changes: number;
}

interface IrttOutput {
  round_trips: Array<{ lost: string | boolean; timestamps: { client: { send: { wall: number } } }; delay?: { rtt?: number } }>;
}

interface IperfOutput {
  start: { timestamp: { timesecs: number } };
  intervals: Array<{ sum: { start: number; bits_per_second: number } }>;
}

export function autoratePolicy(enabled: boolean): Record<string, unknown> {
  return { ...labPolicy(), autorate: { enabled } };
}

export function writePolicy(config: ConfigDir, qos: Record<string, unknown>): void {
  writeFileSync(
    config.file,
    JSON.stringify({ log: { level: 'info', pretty: 'never' }, deployment: { mode: 'inline-router' }, qos: { state_dir: config.stateDir, ...qos } }),
  );
}

/** One phase: the policy applied (and autorate running when asked), load, halving, maybe restoring. */
export async function runPhase(lab: Lab, config: ConfigDir, o: { autorate: boolean; halvedS: number; restoredS: number }): Promise<PhaseTrace> {
  writePolicy(config, autoratePolicy(o.autorate));
  const apply = await cliIn(lab, 'appliance', ['--config', config.file, 'qos', 'apply']);
  if (apply.code !== 0) throw new Error(`qos apply failed: ${apply.stderr}`);
  let autorate: ChildProcess | undefined;
  if (o.autorate) autorate = lab.spawn('appliance', [process.execPath, CLI, '--config', config.file, 'qos', 'autorate']);
  try {
    const idle = await lab.exec('usmp', ['irtt', 'client', '-i', '20ms', '-d', '3s', '-l', '172', '-Q', '-o', '-', `${ADDRESSES.hospital}:${VOICE_PORT}`], {
      timeoutMs: 30_000,
    });
    const idleMs = median(rtts(JSON.parse(idle.stdout) as IrttOutput).map((r) => r.ms));
    const total = WARM_S + o.halvedS + o.restoredS;
    const started = Date.now();
    const call = lab.exec('usmp', ['irtt', 'client', '-i', '20ms', '-d', `${total}s`, '-l', '172', '-Q', '-o', '-', `${ADDRESSES.hospital}:${VOICE_PORT}`], {
      timeoutMs: (total + 30) * 1000,
    });
    const up = lab.exec('usmp', ['iperf3', '-c', ADDRESSES.hospital, '-p', '5301', '-P', '4', '-C', 'cubic', '-t', String(total), '-J'], {
      timeoutMs: (total + 30) * 1000,
    });
    const down = lab.exec('usmp', ['iperf3', '-c', ADDRESSES.hospital, '-p', '5302', '-P', '4', '-C', 'cubic', '-R', '-t', String(total), '-J'], {
      timeoutMs: (total + 30) * 1000,
    });
    await sleep(WARM_S * 1000);
    const halveAtS = (Date.now() - started) / 1000;
    await lab.setLinks({ up: { rateMbit: 10, bufferMs: 50 }, down: { rateMbit: 10, bufferMs: 50 } });
    let restoreAtS: number | undefined;
    if (o.restoredS > 0) {
      await sleep(o.halvedS * 1000);
      restoreAtS = (Date.now() - started) / 1000;
      await lab.setLinks({ up: { rateMbit: 20, bufferMs: 50 }, down: { rateMbit: 20, bufferMs: 50 } });
    }
    const [callOut, upOut, downOut] = await Promise.all([call, up, down]);
    const samples = rtts(JSON.parse(callOut.stdout) as IrttOutput).map((r) => ({ atS: (r.atMs - started) / 1000, ms: r.ms }));
    const increaseMs: PhaseTrace['increaseMs'] = [];
    for (let from = 0; from + 5 <= total; from += 5) {
      const inWindow = samples.filter((s) => s.atS >= from && s.atS < from + 5).map((s) => s.ms);
      if (inWindow.length > 0) increaseMs.push({ fromS: from, ms: round2(median(inWindow) - idleMs) });
    }
    const perSecond = (out: string): Map<number, number> => {
      const r = JSON.parse(out) as IperfOutput;
      const offset = r.start.timestamp.timesecs - started / 1000;
      return new Map(r.intervals.map((i) => [Math.round(i.sum.start + offset), i.sum.bits_per_second / 1e6]));
    };
    const u = perSecond(upOut.stdout);
    const d = perSecond(downOut.stdout);
    const bestEffortMbps = [...u.keys()].filter((s) => d.has(s)).map((s) => ({ atS: s, up: round2(u.get(s)!), down: round2(d.get(s)!) }));
    const file = o.autorate ? readAutorateFile(config.stateDir) : undefined;
    const rates = (file?.history ?? []).map((h) => ({ atS: round2((Date.parse(h.at) - started) / 1000), direction: h.direction, mbps: h.to_mbps }));
    const changes = file
      ? Object.values(file.changes_total)
          .flatMap((byReason) => Object.values(byReason))
          .reduce((a, b) => a + b, 0)
      : 0;
    return { idleMs, increaseMs, bestEffortMbps, halveAtS, restoreAtS, rates, changes };
  } finally {
    if (autorate) {
      autorate.kill('SIGTERM');
      await exitOf(autorate, 'qos autorate after SIGTERM', 15_000);
    }
    await lab.setLinks({ up: { rateMbit: 20, bufferMs: 50 }, down: { rateMbit: 20, bufferMs: 50 } });
    const rollback = await cliIn(lab, 'appliance', ['--config', config.file, 'qos', 'rollback']);
    // a lab left shaped would mislead the next scenario: a failed roll-back fails this one, whatever else did
    // eslint-disable-next-line no-unsafe-finally
    if (rollback.code !== 0) throw new Error(`qos rollback failed: ${rollback.stderr}`);
  }
}

/** Seconds from the halving until every later 5 s window (while halved) keeps the call under `limitMs`; undefined if never. */
export function calmAfterS(t: PhaseTrace, limitMs: number): number | undefined {
  const end = t.restoreAtS ?? Infinity;
  const halved = t.increaseMs.filter((w) => w.fromS >= t.halveAtS && w.fromS + 5 <= end);
  const i = halved.findIndex((_, k) => halved.slice(k).every((w) => w.ms < limitMs));
  return i < 0 ? undefined : round2(halved[i]!.fromS + 5 - t.halveAtS);
}

/** Best effort's steady goodput before the halving (median of seconds 5 to 15 of the load), up+down. */
export function bestEffortBeforeMbps(t: PhaseTrace): number {
  return median(t.bestEffortMbps.filter((s) => s.atS >= 5 && s.atS < t.halveAtS).map((s) => s.up + s.down));
}

/** Seconds from the restoring until best effort holds ≥ share × its goodput before the halving for 3 s. */
export function regainedAfterS(t: PhaseTrace, share: number): number | undefined {
  if (t.restoreAtS === undefined) return undefined;
  const target = share * bestEffortBeforeMbps(t);
  const after = t.bestEffortMbps.filter((s) => s.atS >= t.restoreAtS!);
  const i = after.findIndex((_, k) => after.slice(k, k + 3).length === 3 && after.slice(k, k + 3).every((s) => s.up + s.down >= target));
  return i < 0 ? undefined : round2(after[i]!.atS - t.restoreAtS);
}

function rtts(out: IrttOutput): Array<{ atMs: number; ms: number }> {
  return out.round_trips
    .filter((r) => r.lost === false || r.lost === 'false')
    .filter((r) => r.delay?.rtt !== undefined)
    .map((r) => ({ atMs: r.timestamps.client.send.wall / 1e6, ms: r.delay!.rtt! / 1e6 }));
}

function median(values: number[]): number {
  return percentile(values, 0.5);
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}
