import type { QosObject } from './objects.js';
import type { QosPolicy } from './policy.js';

// What every QoS backend offers; test/qos/conformance.ts holds the one suite both pass.
// Dry run (desired/current), change (apply), and the confirmed-commit safety net (arm a
// roll-back that lives outside this process, check, disarm).

export type BackendName = 'linux' | 'routeros';

export interface RollbackGuard {
  readonly deadline: Date;
  /** Cancels the armed roll-back; false when it already fired (the previous state is back). */
  disarm(): Promise<boolean>;
  /** Restores the previous state now and cancels the timer. */
  fireNow(): Promise<void>;
}

export interface CheckOutcome {
  ok: boolean;
  /** What was checked and what was seen, one line each, for the operator. */
  findings: string[];
}

export interface ArmedRollback {
  deadline: Date;
}

/** The last time a backend put an earlier state back by itself or on request. */
export interface LastRollback {
  at: string;
  by: 'guard' | 'cli';
  reason: string;
  ok: boolean;
  error?: string;
}

export interface QosBackend {
  readonly name: BackendName;
  /** The objects the policy needs, in the form current() reads them back. */
  desired(policy: QosPolicy): QosObject[];
  /** The objects of ours that exist now (nothing we do not own). */
  current(): Promise<QosObject[]>;
  /** Makes current() equal desired(policy); touches only what differs. */
  apply(policy: QosPolicy): Promise<void>;
  /** Snapshots what we own now and arms its restoration outside this process. */
  armRollback(timeoutS: number): Promise<RollbackGuard>;
  /** Is a roll-back armed (a change not yet confirmed)? */
  armed(): Promise<ArmedRollback | undefined>;
  /** The last roll-back this backend recorded, when it keeps such a record (`qos status`). */
  lastRollback?(): Promise<LastRollback | undefined>;
  /** Restores the state from before the last confirmed change; false when none is recorded. */
  rollbackLast(): Promise<boolean>;
  /** After a change: is the hospital reachable and is traffic classified as the policy says? */
  check(policy: QosPolicy): Promise<CheckOutcome>;
  /**
   * Sets the roots' shaped rates to the policy's (autorate) and nothing else, recorded so that a
   * snapshot taken after it holds them; a small change, not confirmed: the probes that chose
   * the rate are its check.
   */
  setShapedRates(policy: QosPolicy): Promise<void>;
  /** Octets our root classes have sent in each direction (autorate's load). */
  rootOctets(): Promise<Record<'up' | 'down', number>>;
  /** Packets seen per class and direction ("up:video"). */
  counters(): Promise<Record<string, number>>;
  close(): Promise<void>;
}
