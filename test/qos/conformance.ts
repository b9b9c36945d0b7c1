import type { Test } from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';

// The one conformance suite every QoS backend passes, driven through the CLI as an operator
// would. Each backend brings a
// harness: how to run the CLI, how to read the whole device state (everything, not only our
// objects) for exact comparisons, and how to make the hospital unreachable for marked traffic.

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface QosHarness {
  cli(args: string[]): Promise<CliResult>;
  /** Starts the CLI and returns its PID, for SIGKILL in the middle of an apply. */
  spawnCli(args: string[]): { pid: number; exited: Promise<unknown> };
  /** The whole state of the device (ours and everything else), without counters. */
  world(): Promise<string>;
  /** Rewrites the configuration's qos section with these fields changed. */
  setPolicy(overrides: Record<string, unknown>): void;
  /** The path the hospital takes drops packets of the telemedicine class (an operator policing AF41). */
  cutMarkedTraffic(on: boolean): Promise<void>;
  /** Makes the next apply hang after its changes, before its check completes (the SIGKILL window). */
  slowCheck?(on: boolean): void;
  /** True once our objects are visibly on the device. */
  changed(before: string): Promise<boolean>;
}

export const VIDEO_RATE_CHANGED = { rate_mbps: 6 };

export async function runConformance(t: Test, h: QosHarness, basePolicy: Record<string, unknown>): Promise<void> {
  const pristine = await h.world();

  await t.test('plan is a dry run listing every object to create', async (t) => {
    const plan = await h.cli(['qos', 'plan', '--json']);
    t.equal(plan.code, 0, exitMessage('plan', plan));
    const diff = JSON.parse(plan.stdout) as { create: unknown[]; change: unknown[]; remove: unknown[] };
    t.ok(diff.create.length >= 10, `${diff.create.length} objects to create`);
    t.same([diff.change.length, diff.remove.length], [0, 0], 'nothing to change or remove on a clean device');
    t.equal(await h.world(), pristine, 'plan changed nothing');
  });

  await t.test('apply is confirmed, and applying twice changes nothing the second time', async (t) => {
    const first = await h.cli(['qos', 'apply']);
    t.equal(first.code, 0, exitMessage('first', first));
    t.match(first.stderr, /confirmed: roll-back disarmed/);
    const applied = await h.world();
    t.not(applied, pristine, 'the device changed');
    const plan = await h.cli(['qos', 'plan', '--json']);
    const diff = JSON.parse(plan.stdout) as { create: unknown[]; change: unknown[]; remove: unknown[] };
    t.same([diff.create.length, diff.change.length, diff.remove.length], [0, 0, 0], 'the plan is empty after apply');
    const second = await h.cli(['qos', 'apply']);
    t.equal(second.code, 0, exitMessage('second', second));
    t.match(second.stderr, /no change/);
    t.equal(await h.world(), applied, 'the second apply touched nothing');
    const status = await h.cli(['qos', 'status', '--json']);
    t.equal((JSON.parse(status.stdout) as { policy: string }).policy, 'configured');
    const rollback = await h.cli(['qos', 'rollback']);
    t.equal(rollback.code, 0, exitMessage('rollback', rollback));
    t.equal(await h.world(), pristine, 'rollback: exactly the device as it was before the first apply');
    const again = await h.cli(['qos', 'apply']);
    t.equal(again.code, 0, exitMessage('again', again));
    t.equal(await h.world(), applied, 'applied again, the same objects');
  });

  await t.test('rollback restores exactly the state before the last change', async (t) => {
    const withA = await h.world();
    h.setPolicy({ ...basePolicy, classes: changeFirstClass(basePolicy, VIDEO_RATE_CHANGED) });
    const plan = await h.cli(['qos', 'plan', '--json']);
    const diff = JSON.parse(plan.stdout) as { create: unknown[]; change: Array<{ key: string }>; remove: unknown[] };
    t.ok(diff.change.length >= 1, `the plan shows ${diff.change.length} changed objects: ${diff.change.map((c) => c.key).join(', ')}`);
    const apply = await h.cli(['qos', 'apply']);
    t.equal(apply.code, 0, exitMessage('apply', apply));
    t.not(await h.world(), withA);
    const rollback = await h.cli(['qos', 'rollback']);
    t.equal(rollback.code, 0, exitMessage('rollback', rollback));
    t.equal(await h.world(), withA, 'policy A back, object by object');
    h.setPolicy(basePolicy);
    const rollbackAgain = await h.cli(['qos', 'rollback']);
    t.equal(rollbackAgain.code, 0, exitMessage('second rollback', rollbackAgain));
    t.equal(await h.world(), pristine, 'one more rollback: the device before any change of ours');
    const rollbackToNothing = await h.cli(['qos', 'rollback']);
    t.equal(rollbackToNothing.code, 2, 'the history is exhausted: nothing more to roll back');
    t.match(rollbackToNothing.stderr, /USMP_E_QOS_NOTHING_TO_ROLL_BACK/);
    const reapply = await h.cli(['qos', 'apply']);
    t.equal(reapply.code, 0, exitMessage('reapply', reapply));
    t.equal(await h.world(), withA, 'policy A applied again: the same device state');
  });

  await t.test('a change that cuts the hospital off is rolled back by itself', async (t) => {
    const before = await h.world();
    h.setPolicy({ ...basePolicy, classes: changeFirstClass(basePolicy, VIDEO_RATE_CHANGED) });
    await h.cutMarkedTraffic(true);
    try {
      const apply = await h.cli(['qos', 'apply', '--confirm-timeout', '20']);
      t.equal(apply.code, 2, 'apply fails');
      t.match(apply.stderr, /USMP_E_QOS_CHECK_FAILED/);
      t.equal(await h.world(), before, 'the previous state is back');
    } finally {
      await h.cutMarkedTraffic(false);
      h.setPolicy(basePolicy);
    }
  });

  await t.test('SIGKILL of the CLI in the middle of an apply ends in the previous state', async (t) => {
    const before = await h.world();
    h.setPolicy({ ...basePolicy, classes: changeFirstClass(basePolicy, VIDEO_RATE_CHANGED) });
    h.slowCheck?.(true);
    const timeoutS = 6;
    const started = Date.now();
    const child = h.spawnCli(['qos', 'apply', '--confirm-timeout', String(timeoutS)]);
    try {
      let changed = false;
      while (!changed && Date.now() - started < 15_000) {
        changed = await h.changed(before);
        if (!changed) await sleep(10);
      }
      t.ok(changed, 'the change reached the device before the kill');
      process.kill(child.pid, 'SIGKILL');
      await child.exited;
      let restored = false;
      while (!restored && Date.now() - started < (timeoutS + 10) * 1000) {
        await sleep(250);
        restored = (await h.world()) === before;
      }
      const seconds = (Date.now() - started) / 1000;
      t.ok(restored, `previous state back ${seconds.toFixed(1)} s after the start (confirm timeout ${timeoutS} s)`);
      t.ok(seconds >= timeoutS - 1, 'not before the deadline');
    } finally {
      h.slowCheck?.(false);
      h.setPolicy(basePolicy);
    }
    const status = await h.cli(['qos', 'status', '--json']);
    t.equal((JSON.parse(status.stdout) as { armed_until: string | null }).armed_until, null, 'nothing left armed');
  });
}

function changeFirstClass(policy: Record<string, unknown>, change: Record<string, unknown>): unknown[] {
  const [first, ...rest] = policy.classes as Array<Record<string, unknown>>;
  return [{ ...first, ...change }, ...rest];
}

function exitMessage(what: string, run: CliResult): string {
  return `${what} exits 0${run.code === 0 ? '' : `: ${run.stderr}`}`;
}
