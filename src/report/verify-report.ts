import type { ErrorCode } from '../errors.js';
import { validateReport } from './qualification-report.js';
import { keyIdOf, signatureMatches, type ReportSignature } from './signing.js';
import type { EnrolledAppliance, EnrolledKeys } from './enrolled-keys.js';

// One chain of checks for `report verify`, `report merge` and the collector's intake, in the
// order a reader needs the answer: is it JSON, is it a report, is it signed, does the
// signature hold, was the key enrolled and valid when it signed. The first failure is the
// reason given, with its stable code.

export type VerifyOutcome =
  | { ok: true; report: Record<string, unknown>; signature: ReportSignature; appliance: EnrolledAppliance | undefined }
  | { ok: false; code: ErrorCode; reason: string; problems?: string[] };

/** A signature dated later than this past the verifier's clock is refused. */
const CLOCK_SKEW_MS = 10 * 60_000;

export interface VerifyOptions {
  /** The trusted appliances; without them the signature is checked against its own key only. */
  keys?: EnrolledKeys | undefined;
  now?: Date;
}

export function verifyReportText(text: string, options: VerifyOptions = {}): VerifyOutcome {
  let report: unknown;
  try {
    report = JSON.parse(text);
  } catch (err) {
    return { ok: false, code: 'USMP_E_REPORT_MALFORMED', reason: `not JSON: ${(err as Error).message}` };
  }
  if (typeof report !== 'object' || report === null || Array.isArray(report)) return { ok: false, code: 'USMP_E_REPORT_MALFORMED', reason: 'not a JSON object' };
  return verifyReport(report as Record<string, unknown>, options);
}

export function verifyReport(report: Record<string, unknown>, options: VerifyOptions = {}): VerifyOutcome {
  const problems = validateReport(report);
  if (problems.length > 0) return { ok: false, code: 'USMP_E_REPORT_SCHEMA', reason: `does not follow the report schema: ${problems.slice(0, 5).join('; ')}${problems.length > 5 ? ` (and ${problems.length - 5} more)` : ''}`, problems };
  const signature = report['signature'] as ReportSignature | undefined;
  if (!signature) return { ok: false, code: 'USMP_E_REPORT_UNSIGNED', reason: 'the report carries no signature' };
  if (keyIdOf(signature.public_key) !== signature.key_id) return { ok: false, code: 'USMP_E_REPORT_SIGNATURE', reason: `signature.key_id ${signature.key_id} is not the id of signature.public_key (${keyIdOf(signature.public_key)})` };
  if (!signatureMatches(report)) return { ok: false, code: 'USMP_E_REPORT_SIGNATURE', reason: `the Ed25519 signature by key ${signature.key_id} does not match the content: the report was changed after it was signed` };
  const now = options.now ?? new Date();
  const signedAt = Date.parse(signature.signed_at);
  if (signedAt > now.getTime() + CLOCK_SKEW_MS) return { ok: false, code: 'USMP_E_REPORT_SIGNATURE', reason: `signed at ${signature.signed_at}, in the future (this clock: ${now.toISOString()}): check the appliance's clock (NTP)` };
  if (!options.keys) return { ok: true, report, signature, appliance: undefined };
  const appliance = options.keys.find(signature.key_id);
  const claimed = (report['site'] as { appliance_id: string }).appliance_id;
  if (!appliance) return { ok: false, code: 'USMP_E_REPORT_KEY_UNKNOWN', reason: `signed by key ${signature.key_id} (appliance "${claimed}"), which is not enrolled` };
  if (appliance.appliance_id !== claimed) return { ok: false, code: 'USMP_E_REPORT_KEY_UNKNOWN', reason: `key ${signature.key_id} is enrolled for appliance "${appliance.appliance_id}", but the report says "${claimed}"` };
  if (signedAt < Date.parse(appliance.enrolled_at)) return { ok: false, code: 'USMP_E_REPORT_KEY_EXPIRED', reason: `signed at ${signature.signed_at}, before key ${signature.key_id} was enrolled (${appliance.enrolled_at})` };
  if (appliance.expires_at !== null && signedAt > endOf(appliance.expires_at)) return { ok: false, code: 'USMP_E_REPORT_KEY_EXPIRED', reason: `signed at ${signature.signed_at}, after key ${signature.key_id} of "${appliance.appliance_id}" expired (${appliance.expires_at})` };
  return { ok: true, report, signature, appliance };
}

/** A bare date means the whole day (UTC). */
function endOf(date: string): number {
  return /^\d{4}-\d{2}-\d{2}$/.test(date) ? Date.parse(`${date}T23:59:59.999Z`) : Date.parse(date);
}
