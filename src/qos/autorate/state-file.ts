import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileDurably } from '../../exec/durable-file.js';
import type { AutorateState, ChangeReason, Direction, RateChange } from './controller.js';

// What autorate holds now and did lately, in qos.state_dir/autorate.json: read by the policy
// (the rates in force), `qos status`, `qos verify`, the report and the daemon's /metrics.

export const AUTORATE_FILE = 'autorate.json';
export const HISTORY_KEPT = 50;

export interface AutorateFile {
  version: 1;
  state: AutorateState;
  rates_mbps: Record<Direction, number>;
  baseline_ms: number | null;
  changes_total: Record<Direction, Record<ChangeReason, number>>;
  /** The last changes, newest last. */
  history: Array<{ at: string; direction: Direction; from_mbps: number; to_mbps: number; reason: ChangeReason; delay_ms: number; carried_mbps: number }>;
  updated_at: string;
}

export function readAutorateFile(stateDir: string): AutorateFile | undefined {
  try {
    const parsed = JSON.parse(readFileSync(join(stateDir, AUTORATE_FILE), 'utf8')) as AutorateFile;
    return parsed.version === 1 && typeof parsed.rates_mbps?.up === 'number' && typeof parsed.rates_mbps.down === 'number' ? parsed : undefined;
  } catch {
    return undefined;
  }
}

export function emptyAutorateFile(rates: Record<Direction, number>, now: Date): AutorateFile {
  const zero = (): Record<ChangeReason, number> => ({ bufferbloat: 0, loaded_and_calm: 0 });
  return {
    version: 1,
    state: 'starting',
    rates_mbps: { ...rates },
    baseline_ms: null,
    changes_total: { up: zero(), down: zero() },
    history: [],
    updated_at: now.toISOString(),
  };
}

export function recordChanges(
  file: AutorateFile,
  changes: readonly RateChange[],
  state: AutorateState,
  baselineMs: number | undefined,
  now: Date,
): AutorateFile {
  const next: AutorateFile = {
    ...file,
    state,
    baseline_ms: baselineMs ?? null,
    updated_at: now.toISOString(),
    rates_mbps: { ...file.rates_mbps },
    changes_total: { up: { ...file.changes_total.up }, down: { ...file.changes_total.down } },
    history: [...file.history],
  };
  for (const c of changes) {
    next.rates_mbps[c.direction] = c.toMbps;
    next.changes_total[c.direction][c.reason] += 1;
    next.history.push({
      at: new Date(c.atMs).toISOString(),
      direction: c.direction,
      from_mbps: c.fromMbps,
      to_mbps: c.toMbps,
      reason: c.reason,
      delay_ms: c.delayMs,
      carried_mbps: c.carriedMbps,
    });
  }
  next.history = next.history.slice(-HISTORY_KEPT);
  return next;
}

export function writeAutorateFile(stateDir: string, file: AutorateFile): void {
  writeFileDurably(join(stateDir, AUTORATE_FILE), `${JSON.stringify(file, null, 2)}\n`, 0o600, 0o700);
}

/** One line for status, verify and the report: the rates in force and the recent changes. */
export function describeAutorate(file: AutorateFile | undefined, now: Date, recent = 5): string {
  if (!file) return 'enabled, not started yet (usmp-edge-qos-autorate.service)';
  const last = file.history
    .slice(-recent)
    .map((h) => `${h.at.slice(11, 19)} ${h.direction} ${h.from_mbps}→${h.to_mbps} (${h.reason === 'bufferbloat' ? `+${h.delay_ms} ms` : 'loaded, calm'})`);
  const age = Math.round((now.getTime() - Date.parse(file.updated_at)) / 1000);
  return `${file.state}, ${file.rates_mbps.up}/${file.rates_mbps.down} Mbit/s up/down (updated ${age} s ago); ${file.history.length === 0 ? 'no change yet' : `last changes: ${last.join('; ')}`}`;
}
