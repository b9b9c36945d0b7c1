import type { ConfigProblem } from '../../config/problems.js';
import type { QosPolicy } from '../policy.js';
import { configuredShapedMbps as shapedMbps } from '../policy.js';
import type { AutorateSettings, Direction } from './controller.js';

// qos.autorate.* as the controller takes them, checked with the key path of each problem.

export interface AutorateConfigInput {
  enabled: boolean;
  floor_percent: number;
  delay_threshold_ms: number;
  decrease_percent: number;
  increase_percent: number;
  load_percent: number;
  hold_down_s: number;
  probes_per_s: number;
  window_ms: number;
  stale_s: number;
}

/** Refractory time after a decrease: a window and the wait for its late replies. */
const REPLY_WAIT_MS = 1000;

export function autorateProblems(a: AutorateConfigInput, policy: QosPolicy | undefined, probeTarget: string): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const problem = (key: string, message: string): void => void problems.push({ path: `qos.autorate.${key}`, message });
  if (!a.enabled) return problems;
  if (!probeTarget) problem('enabled', 'needs a responder to probe: set monitor.target (or qos.check_target, qualify.target)');
  if (a.floor_percent > 100) problem('floor_percent', `the floor (${a.floor_percent} %) is above the maximum, the configured rate (100 %)`);
  else if (a.floor_percent < 1) problem('floor_percent', 'must be at least 1 (percent of the configured rate)');
  else if (policy) {
    const committed = policy.classes.reduce((sum, c) => sum + c.rateMbps, 0);
    for (const d of ['up', 'down'] as const) {
      const floor = (shapedMbps(policy, d) * a.floor_percent) / 100;
      if (committed > floor * 0.99)
        problem(
          'floor_percent',
          `at ${a.floor_percent} % the ${d} rate could fall to ${round3(floor)} Mbit/s, below the committed rates (${round3(committed)} Mbit/s); raise the floor`,
        );
    }
  }
  if (a.decrease_percent < 1 || a.decrease_percent > 90) problem('decrease_percent', 'must be from 1 to 90');
  if (a.load_percent < 1 || a.load_percent > 100) problem('load_percent', 'must be from 1 to 100');
  if (a.increase_percent > 50) problem('increase_percent', 'must be at most 50 (percent of the configured rate per window)');
  if (a.window_ms < 100) problem('window_ms', 'must be at least 100');
  return problems;
}

export function autorateSettings(a: AutorateConfigInput, policy: QosPolicy): AutorateSettings {
  const max = (d: Direction): number => shapedMbps(policy, d);
  return {
    maxMbps: { up: max('up'), down: max('down') },
    floorMbps: { up: (max('up') * a.floor_percent) / 100, down: (max('down') * a.floor_percent) / 100 },
    delayThresholdMs: a.delay_threshold_ms,
    decreaseFactor: 1 - a.decrease_percent / 100,
    increaseStepOfMax: a.increase_percent / 100,
    loadThreshold: a.load_percent / 100,
    holdDownMs: a.hold_down_s * 1000,
    refractoryMs: a.window_ms + REPLY_WAIT_MS,
    staleMs: a.stale_s * 1000,
  };
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
