import { setTimeout as sleep } from 'node:timers/promises';
import { systemRunner } from '../../exec/process-runner.js';
import { restoreSnapshot } from './restore.js';
import { RollbackStateDir } from './rollback-state.js';

// The confirmed-commit guard: a process of its own (its own session, detached from the CLI)
// that restores the armed snapshot at the deadline unless the CLI disarmed it first. Like
// Junos `commit confirmed`, the fallback does not depend on the client staying alive.
// Usage: node rollback-guard.js STATE_DIR

async function main(dir: string): Promise<number> {
  const state = new RollbackStateDir(dir);
  const armed = state.read<{ deadline_ms: number }>('armed');
  if (!armed) return 0;
  const wait = armed.deadline_ms - Date.now();
  if (wait > 0) await sleep(wait);
  const claimed = state.claimArmed();
  if (!claimed) return 0; // disarmed (confirmed) or restored by the CLI
  const started = new Date().toISOString();
  try {
    await restoreSnapshot(systemRunner, claimed.snapshot);
    state.write('applied', claimed.snapshot.tc);
    state.write('last-rollback', { at: started, by: 'guard', reason: 'confirm deadline passed', ok: true });
    state.remove('firing');
    return 0;
  } catch (err) {
    state.write('last-rollback', { at: started, by: 'guard', reason: 'confirm deadline passed', ok: false, error: (err as Error).message });
    return 1; // firing.json stays: `qos rollback` retries it
  }
}

const dir = process.argv[2];
if (!dir) {
  process.stderr.write('usage: rollback-guard STATE_DIR\n');
  process.exit(2);
}
process.exitCode = await main(dir);
