import t from 'tap';
import { existsSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import type { ProcessRunner, RunRequest } from '../../src/exec/process-runner.js';
import { HISTORY_DEPTH, RollbackJournal, type LinuxSnapshot } from '../../src/qos/linux/rollback-journal.js';

// The Linux roll-back journal's transitions (its header's diagram), with a runner that records
// the commands a restore would run; the lab's conformance suite runs them for real.

const NOW = new Date('2026-12-03T10:00:00Z');

function recordingRunner(failOn?: RegExp): { runner: ProcessRunner; commands: string[] } {
  const commands: string[] = [];
  const runner: ProcessRunner = {
    run: async ({ argv, input }: RunRequest) => {
      const line = [...argv, ...(input ? [JSON.stringify(input)] : [])].join(' ');
      commands.push(line);
      if (failOn?.test(line)) return { code: 1, signal: null, stdout: '', stderr: 'Error: Could not process rule: No buffer space available', timedOut: false };
      return { code: 0, signal: null, stdout: argv.includes('-j') ? '[]' : '', stderr: '', timedOut: false };
    },
  };
  return { runner, commands };
}

const snapshot = (n: number): LinuxSnapshot => ({
  nft: `table inet usmp_edge { # state ${n}\n}\n`,
  tc: { wan0: [`qdisc add dev wan0 root handle 1: htb # ${n}`], lan0: null },
});
const files = (dir: string) => ['armed', 'firing', 'confirmed'].filter((name) => existsSync(join(dir, `${name}.json`)));

t.test('armed → confirmed → history; the guard, waking after, finds nothing to restore', async (t) => {
  const dir = t.testdir();
  const journal = new RollbackJournal(dir, () => NOW);
  journal.arm({ snapshot: snapshot(1), deadline_ms: NOW.getTime() + 30_000 });
  journal.setGuard(4242);
  t.same(journal.armed()?.guard_pid, 4242);
  t.same(journal.confirm()?.guard_pid, 4242, 'the confirmed change, with the guard to end');
  t.same(files(dir), [], 'nothing armed, firing or half-confirmed');
  t.same(journal.history(), [snapshot(1)]);
  t.equal(journal.claim(), undefined, 'the guard claims nothing');
  t.equal(journal.confirm(), undefined, 'confirming twice confirms nothing');
});

t.test('armed → firing → restored: one sequence, the trees in force and the record written', async (t) => {
  const dir = t.testdir();
  const journal = new RollbackJournal(dir, () => NOW);
  journal.setApplied({ wan0: ['new tree'], lan0: ['new tree'] });
  journal.arm({ snapshot: snapshot(1), deadline_ms: NOW.getTime() });
  const claimed = journal.claim();
  t.ok(claimed, 'the first claim wins');
  t.equal(journal.claim(), undefined, 'a second claimant gets nothing');
  t.equal(journal.confirm(), undefined, 'and a late confirmation fails: the change is being restored');
  const { runner, commands } = recordingRunner();
  await journal.restoreClaimed(runner, claimed!, { by: 'guard', reason: 'confirm deadline passed' });
  t.match(commands[0], /^nft -f - .*state 1/, 'our table put back first');
  t.ok(
    commands.some((c) => c.startsWith('tc -batch -') && c.includes('# 1')),
    'the recorded tc tree written back',
  );
  t.same(journal.applied(), snapshot(1).tc, 'the trees in force are the snapshot’s');
  t.same(journal.lastRollback(), { at: NOW.toISOString(), by: 'guard', reason: 'confirm deadline passed', ok: true });
  t.same(files(dir), []);
  t.same(journal.history(), [], 'a restored change is not history');
});

t.test('a failed restore stays firing, is recorded as failed, and is retried to the end', async (t) => {
  const dir = t.testdir();
  const journal = new RollbackJournal(dir, () => NOW);
  journal.arm({ snapshot: snapshot(1), deadline_ms: NOW.getTime() });
  const claimed = journal.claim()!;
  await t.rejects(journal.restoreClaimed(recordingRunner(/^nft/).runner, claimed, { by: 'guard', reason: 'confirm deadline passed' }), {
    code: 'USMP_E_QOS_APPLY_FAILED',
  });
  t.same(files(dir), ['firing']);
  t.match(journal.lastRollback(), { by: 'guard', ok: false, error: /No buffer space/ });
  const retry = journal.firing()!;
  await journal.restoreClaimed(recordingRunner().runner, retry, { by: 'cli', reason: 'qos rollback' });
  t.same(files(dir), []);
  t.match(journal.lastRollback(), { by: 'cli', ok: true });
});

t.test(`the history keeps the last ${HISTORY_DEPTH} confirmed changes and undoes them newest first`, async (t) => {
  const dir = t.testdir();
  const journal = new RollbackJournal(dir, () => NOW);
  for (let n = 1; n <= HISTORY_DEPTH + 2; n++) {
    journal.arm({ snapshot: snapshot(n), deadline_ms: 0 });
    journal.confirm();
  }
  t.same(
    journal.history().map((s) => s.nft),
    Array.from({ length: HISTORY_DEPTH }, (_, i) => snapshot(i + 3).nft),
  );
  const { runner, commands } = recordingRunner();
  t.equal(await journal.undoNewest(runner, { by: 'cli', reason: 'qos rollback' }), true);
  t.match(commands[0], /state 7/);
  t.equal(journal.history().length, HISTORY_DEPTH - 1);
  const failing = recordingRunner(/^nft/).runner;
  await t.rejects(journal.undoNewest(failing, { by: 'cli', reason: 'qos rollback' }));
  t.equal(journal.history().length, HISTORY_DEPTH - 1, 'a failed undo keeps its entry');
  for (let i = 0; i < HISTORY_DEPTH - 1; i++) await journal.undoNewest(runner, { by: 'cli', reason: 'qos rollback' });
  t.equal(await journal.undoNewest(runner, { by: 'cli', reason: 'qos rollback' }), false, 'exhausted');
});

t.test('a confirmation cut short by a crash (confirmed.json left) is finished on the next read', async (t) => {
  const dir = t.testdir();
  const journal = new RollbackJournal(dir, () => NOW);
  journal.arm({ snapshot: snapshot(1), deadline_ms: 0 });
  // what confirm() does up to the crash: the rename, not yet the move into the history
  renameSync(join(dir, 'armed.json'), join(dir, 'confirmed.json'));
  t.same(new RollbackJournal(dir).history(), [snapshot(1)]);
  t.same(files(dir), []);
});
