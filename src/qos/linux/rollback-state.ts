import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync, fsyncSync, openSync, closeSync } from 'node:fs';
import { join } from 'node:path';

// The Linux backend's state on disk (qos.state_dir), so that a roll-back does not depend on
// the process that made the change:
//   armed.json      a change not yet confirmed: the snapshot to restore and its deadline
//   firing.json     the same, claimed by whoever restores it (rename is the lock)
//   confirmed.json  an armed change just confirmed (renamed from armed.json: the lock)
//   history.json    the states before the last confirmed changes, newest last (`qos rollback`)
//   applied.json    the tc trees in force, as batch lines (the kernel cannot print them back)
//   last-rollback.json  what the guard did, for `qos status`

export interface LinuxSnapshot {
  /** `nft list table` output of our table, or null when it did not exist. */
  nft: string | null;
  /** Per device, the `tc -batch` lines of our tree, or null when the device had none of ours. */
  tc: Record<string, string[] | null>;
  /** Per device, its segmentation offloads before we turned them off. */
  offloads?: Record<string, { gro: string; gso: string; tso: string }>;
}

export interface ArmedFile {
  snapshot: LinuxSnapshot;
  deadline_ms: number;
  guard_pid?: number;
}

export const HISTORY_DEPTH = 5;

export class RollbackStateDir {
  constructor(readonly dir: string) {}

  path(name: 'armed' | 'firing' | 'confirmed' | 'history' | 'applied' | 'last-rollback'): string {
    return join(this.dir, `${name}.json`);
  }

  read<T>(name: Parameters<RollbackStateDir['path']>[0]): T | undefined {
    try {
      return JSON.parse(readFileSync(this.path(name), 'utf8')) as T;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  /** Written to a temporary file, synced, then renamed: a crash leaves the old or the new. */
  write(name: Parameters<RollbackStateDir['path']>[0], value: unknown): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const tmp = `${this.path(name)}.tmp`;
    writeFileSync(tmp, JSON.stringify(value, null, 2), { mode: 0o600 });
    const fd = openSync(tmp, 'r');
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, this.path(name));
  }

  remove(name: Parameters<RollbackStateDir['path']>[0]): void {
    rmSync(this.path(name), { force: true });
  }

  /** Moves a confirmed change's snapshot onto the undo history (bounded). */
  recordConfirmed(): void {
    const confirmed = this.read<ArmedFile>('confirmed');
    if (!confirmed) return;
    const history = [...(this.read<LinuxSnapshot[]>('history') ?? []), confirmed.snapshot].slice(-HISTORY_DEPTH);
    this.write('history', history);
    this.remove('confirmed');
  }

  /** The newest recorded state, removed from the history once restored by the caller. */
  newestHistory(): { snapshot: LinuxSnapshot; drop: () => void } | undefined {
    this.recordConfirmed();
    const history = this.read<LinuxSnapshot[]>('history') ?? [];
    const snapshot = history.at(-1);
    return snapshot ? { snapshot, drop: () => this.write('history', history.slice(0, -1)) } : undefined;
  }

  /** Atomically takes the armed change for restoring; false when someone else already did. */
  claimArmed(): ArmedFile | undefined {
    try {
      renameSync(this.path('armed'), this.path('firing'));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    return this.read<ArmedFile>('firing');
  }
}
