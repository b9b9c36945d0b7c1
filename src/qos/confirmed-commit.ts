import { UsmpError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { CheckOutcome, QosBackend } from './backend.js';
import { diffObjects, isEmptyDiff, type QosDiff } from './objects.js';
import type { QosPolicy } from './policy.js';

// `qos apply` as a confirmed commit [RFC 6241 §8.4; Junos "commit confirmed"]: the roll-back
// is armed before anything changes, the change is checked, and only a passing check disarms
// it. A failed check, a crash of this process, or a check that outlives the deadline all end
// in the previous state.

export interface ApplyOutcome {
  changed: boolean;
  diff: QosDiff;
  check?: CheckOutcome;
}

export interface ConfirmedApplyOptions {
  timeoutS: number;
  log?: Logger;
  /** Called between the steps (for the progress line). */
  onStep?: (step: 'armed' | 'applied' | 'checked' | 'confirmed', detail: string) => void;
}

export async function confirmedApply(backend: QosBackend, policy: QosPolicy, options: ConfirmedApplyOptions): Promise<ApplyOutcome> {
  const diff = diffObjects(backend.desired(policy), await backend.current());
  if (isEmptyDiff(diff)) return { changed: false, diff };
  const guard = await backend.armRollback(options.timeoutS);
  options.onStep?.('armed', `roll-back armed until ${guard.deadline.toISOString()}`);
  options.log?.info({ event: 'qos.rollback_armed', backend: backend.name, deadline: guard.deadline.toISOString() }, 'qos roll-back armed');
  try {
    await backend.apply(policy);
  } catch (err) {
    await guard.fireNow();
    options.log?.warn({ event: 'qos.apply_failed', backend: backend.name, err }, 'qos apply failed; previous state restored');
    throw err;
  }
  options.onStep?.('applied', `${diff.create.length} created, ${diff.change.length} changed, ${diff.remove.length} removed`);
  let check: CheckOutcome;
  try {
    check = await backend.check(policy);
  } catch (err) {
    check = { ok: false, findings: [`the check itself failed: ${(err as Error).message}`] };
  }
  options.onStep?.('checked', check.findings.join('; '));
  if (!check.ok) {
    await guard.fireNow();
    options.log?.warn({ event: 'qos.check_failed', backend: backend.name, findings: check.findings }, 'qos check failed; previous state restored');
    throw new UsmpError('USMP_E_QOS_CHECK_FAILED', `the change was rolled back: ${check.findings.join('; ')}`, { details: { findings: check.findings } });
  }
  if (!(await guard.disarm())) {
    throw new UsmpError(
      'USMP_E_QOS_ROLLED_BACK',
      `the check passed after the confirm deadline (${guard.deadline.toISOString()}); the roll-back had already restored the previous state`,
    );
  }
  options.onStep?.('confirmed', 'roll-back disarmed');
  options.log?.info({ event: 'qos.confirmed', backend: backend.name }, 'qos change confirmed');
  return { changed: true, diff, check };
}
