import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LoadedConfig } from '../config/load.js';
import { asUsmpError } from '../errors.js';
import { backendFromConfig, policyFromConfig } from './factory.js';
import { diffObjects, isEmptyDiff } from './objects.js';
import type { VerifyResult } from './verify.js';
import { readAutorateFile, type AutorateFile } from './autorate/state-file.js';

// The qualification report's QoS section, present when a policy is configured: the policy,
// whether it is in force on the device, its counters, and the last `qos verify` proof.

export const LAST_VERIFY_FILE = 'last-verify.json';

export interface QosReportSection {
  backend: string;
  up_mbps: number;
  down_mbps: number;
  shape_percent: number;
  link_layer: { preset: string; type: string; overhead: number; mpu: number };
  /** When autorate runs: its rates now and its last changes. */
  autorate?: { state: string; rates_mbps: { up: number; down: number }; history: AutorateFile['history'] };
  classes: Array<{ name: string; dscp: number; priority: number; rate_mbps: number; ceil_mbps: number }>;
  /** null when the device could not be read (the error says why). */
  policy_in_force: boolean | null;
  read_error?: string;
  counters?: Record<string, number>;
  last_verify?: VerifyResult & { at: string };
}

export async function qosReportSection(config: LoadedConfig): Promise<QosReportSection | undefined> {
  if (config.values.qos.classes.length === 0) return undefined;
  const policy = policyFromConfig(config);
  const section: QosReportSection = {
    backend: config.values.qos.backend,
    up_mbps: policy.upMbps,
    down_mbps: policy.downMbps,
    shape_percent: policy.shapePercent,
    link_layer: { ...policy.linkLayer },
    classes: policy.classes.map((c) => ({ name: c.name, dscp: c.dscp, priority: c.priority, rate_mbps: c.rateMbps, ceil_mbps: c.ceilMbps })),
    policy_in_force: null,
  };
  if (config.values.qos.autorate.enabled) {
    const file = readAutorateFile(config.values.qos.state_dir);
    if (file) section.autorate = { state: file.state, rates_mbps: file.rates_mbps, history: file.history.slice(-10) };
  }
  try {
    const backend = await backendFromConfig(config);
    try {
      section.policy_in_force = isEmptyDiff(diffObjects(backend.desired(policy), await backend.current()));
      section.counters = await backend.counters();
    } finally {
      await backend.close();
    }
  } catch (err) {
    const e = asUsmpError(err);
    section.read_error = `${e.code}: ${e.message}`;
  }
  try {
    section.last_verify = JSON.parse(readFileSync(join(config.values.qos.state_dir, LAST_VERIFY_FILE), 'utf8')) as VerifyResult & { at: string };
  } catch {
    // no proof recorded yet
  }
  return section;
}
