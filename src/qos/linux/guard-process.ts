import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

// Starting, recognising and ending the roll-back guard (rollback-guard.ts). We only ever
// signal a PID whose command line is the guard's: PIDs are reused.

const GUARD_SCRIPT = fileURLToPath(new URL('./rollback-guard.js', import.meta.url));

export function startDetachedGuard(stateDir: string): number | undefined {
  // Its own session: a SIGKILL of the CLI, or of its process group, does not reach it.
  const child = spawn(process.execPath, [GUARD_SCRIPT, stateDir], { detached: true, stdio: 'ignore' });
  child.unref();
  return child.pid;
}

export function isGuardAlive(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('rollback-guard');
  } catch {
    return false;
  }
}

/** Ends the guard of an armed change, and only that process. */
export function endGuard(pid: number | undefined): void {
  if (!isGuardAlive(pid)) return;
  try {
    process.kill(pid!, 'SIGTERM');
  } catch {
    // gone meanwhile
  }
}
