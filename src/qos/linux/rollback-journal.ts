import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ProcessRunner } from '../../exec/process-runner.js';
import type { LastRollback } from '../backend.js';
import { restoreSnapshot } from './restore.js';

// The Linux backend's roll-back journal, on disk in qos.state_dir so that a roll-back does not
// depend on the process that made the change (the CLI may die; the guard is its own process).
// It owns every transition; the backend and the guard only call them.
//
//                 arm()                      confirm()
//     (none) ───────────────▶ armed.json ──────────────▶ confirmed.json ──▶ history.json (+1, newest last,
//                                │                        (the rename is      at most HISTORY_DEPTH) ─▶ (none)
//                                │ claim()                 the lock)
//                                │ (the guard at the deadline; the CLI for an orphan past its
//                                │  deadline, a failed apply or check, or `qos rollback`)
//                                ▼
//                            firing.json ── restore() ok ──▶ (none)
//                                │
//                                └── restore() failed: stays, and `qos rollback` retries it
//
//     history.json ── undoNewest() (nothing armed or firing) ── restore ok ──▶ one fewer
//
// Each rename is atomic, so whoever renames first wins (the guard waking at the deadline, or
// the CLI confirming): a change is either confirmed or restored, never both. Every restore goes
// through one sequence (restoreFrom): the snapshot is put back, `applied.json` (the tc trees in
// force, which the kernel cannot print back) becomes the snapshot's, and `last-rollback.json`
// records who restored what, when and whether it worked (`qos status` shows it).

export interface LinuxSnapshot {
  /** `nft list table` output of our table, or null when it did not exist. */
  nft: string | null;
  /** Per device, the `tc -batch` lines of our tree, or null when the device had none of ours. */
  tc: Record<string, string[] | null>;
  /** Per device, its segmentation offloads before we turned them off. */
  offloads?: Record<string, { gro: string; gso: string; tso: string }>;
}

export interface ArmedChange {
  snapshot: LinuxSnapshot;
  deadline_ms: number;
  guard_pid?: number;
}

/** Who restored a state, and why. */
export type RollbackCause = Pick<LastRollback, 'by' | 'reason'>;

/** The tc trees in force, per device (null: none of ours). */
export type AppliedTrees = Record<string, string[] | null>;

export const HISTORY_DEPTH = 5;

type FileName = 'armed' | 'firing' | 'confirmed' | 'history' | 'applied' | 'last-rollback';

export class RollbackJournal {
  constructor(
    readonly dir: string,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** The change awaiting confirmation. */
  armed(): ArmedChange | undefined {
    return this.#read<ArmedChange>('armed');
  }

  /** A change claimed for restoring whose restore has not finished (or failed). */
  firing(): ArmedChange | undefined {
    return this.#read<ArmedChange>('firing');
  }

  applied(): AppliedTrees {
    return this.#read<AppliedTrees>('applied') ?? {};
  }

  lastRollback(): LastRollback | undefined {
    return this.#read<LastRollback>('last-rollback');
  }

  /** The states before the last confirmed changes, newest last. */
  history(): LinuxSnapshot[] {
    this.#settleConfirmed();
    return this.#read<LinuxSnapshot[]>('history') ?? [];
  }

  /** Records the tc trees now in force (after an apply or a rate change). */
  setApplied(trees: AppliedTrees): void {
    this.#write('applied', trees);
  }

  /** (none) → armed. */
  arm(change: ArmedChange): void {
    this.#write('armed', change);
  }

  /** Records the guard watching the armed change (the file is rewritten whole). */
  setGuard(pid: number): void {
    const armed = this.armed();
    if (armed) this.#write('armed', { ...armed, guard_pid: pid });
  }

  /** armed → confirmed → history. Returns the change confirmed, or undefined when it was claimed first (restored). */
  confirm(): ArmedChange | undefined {
    const armed = this.armed();
    if (!this.#rename('armed', 'confirmed')) return undefined;
    this.#settleConfirmed();
    return armed;
  }

  /** armed → firing. Returns the change, or undefined when it was confirmed or claimed first. */
  claim(): ArmedChange | undefined {
    return this.#rename('armed', 'firing') ? this.firing() : undefined;
  }

  /**
   * firing → (none): puts the claimed change's snapshot back and records it. On failure the
   * change stays in firing.json for `qos rollback` to retry, the failure is recorded, and the
   * error is thrown.
   */
  async restoreClaimed(runner: ProcessRunner, change: ArmedChange, cause: RollbackCause): Promise<void> {
    await this.#restoreFrom(runner, change.snapshot, cause);
    this.#remove('firing');
  }

  /** history → one fewer: restores the state before the last confirmed change; false when none is recorded. */
  async undoNewest(runner: ProcessRunner, cause: RollbackCause): Promise<boolean> {
    const history = this.history();
    const newest = history.at(-1);
    if (!newest) return false;
    await this.#restoreFrom(runner, newest, cause);
    this.#write('history', history.slice(0, -1));
    return true;
  }

  /** The one restore sequence. */
  async #restoreFrom(runner: ProcessRunner, snapshot: LinuxSnapshot, cause: RollbackCause): Promise<void> {
    const at = this.now().toISOString();
    try {
      await restoreSnapshot(runner, snapshot);
    } catch (err) {
      this.#write('last-rollback', { at, ...cause, ok: false, error: (err as Error).message } satisfies LastRollback);
      throw err;
    }
    this.setApplied(snapshot.tc);
    this.#write('last-rollback', { at, ...cause, ok: true } satisfies LastRollback);
  }

  /** confirmed → history (also finishes a confirmation that a crash interrupted). */
  #settleConfirmed(): void {
    const confirmed = this.#read<ArmedChange>('confirmed');
    if (!confirmed) return;
    const history = [...(this.#read<LinuxSnapshot[]>('history') ?? []), confirmed.snapshot].slice(-HISTORY_DEPTH);
    this.#write('history', history);
    this.#remove('confirmed');
  }

  #path(name: FileName): string {
    return join(this.dir, `${name}.json`);
  }

  #read<T>(name: FileName): T | undefined {
    try {
      return JSON.parse(readFileSync(this.#path(name), 'utf8')) as T;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  /** Written to a temporary file, synced, then renamed: a crash leaves the old or the new. */
  #write(name: FileName, value: unknown): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const tmp = `${this.#path(name)}.tmp`;
    writeFileSync(tmp, JSON.stringify(value, null, 2), { mode: 0o600 });
    const fd = openSync(tmp, 'r');
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, this.#path(name));
  }

  #remove(name: FileName): void {
    rmSync(this.#path(name), { force: true });
  }

  /** The lock of every transition: false when the source was gone (someone else moved it first). */
  #rename(from: FileName, to: FileName): boolean {
    try {
      renameSync(this.#path(from), this.#path(to));
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
  }
}
