import { setTimeout as sleep } from 'node:timers/promises';
import { systemRunner } from '../../exec/process-runner.js';
import { RollbackJournal } from './rollback-journal.js';

// The confirmed-commit guard: a process of its own (its own session, detached from the CLI)
// that restores the armed snapshot at the deadline unless the CLI disarmed it first. Like
// Junos `commit confirmed`, the fallback does not depend on the client staying alive.
// Usage: node rollback-guard.js STATE_DIR

async function main(dir: string): Promise<number> {
  const journal = new RollbackJournal(dir);
  const armed = journal.armed();
  if (!armed) return 0;
  const wait = armed.deadline_ms - Date.now();
  if (wait > 0) await sleep(wait);
  const claimed = journal.claim();
  if (!claimed) return 0; // confirmed, or restored by the CLI
  try {
    await journal.restoreClaimed(systemRunner, claimed, { by: 'guard', reason: 'confirm deadline passed' });
    return 0;
  } catch {
    return 1; // recorded in last-rollback.json; firing.json stays and `qos rollback` retries it
  }
}

const dir = process.argv[2];
if (!dir) {
  process.stderr.write('usage: rollback-guard STATE_DIR\n');
  process.exit(2);
}
process.exitCode = await main(dir);
