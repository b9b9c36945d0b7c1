import type { ErrorCode } from '../errors.js';
import { canonicalJson } from './canonical-json.js';
import { RAW_KEY, type EnrolledAppliance, type EnrolledKeys } from './enrolled-keys.js';
import { validateReport } from './qualification-report.js';
import { keyIdOf, signatureMatches, type ReportSignature } from './signing.js';
import { parseStrictJson, StrictJsonError } from './strict-json.js';

// One chain of checks for `report verify`, `report merge` and the collector's intake, cheapest
// first so that a stranger's document costs little: parse (bounded nesting, no duplicate
// member), find the enrolled key by the whole public key the document carries, then the
// schema, then the Ed25519 signature, then what the key may vouch for (its appliance, its
// establishment, its validity) and the document's dates. The first failure is the reason
// given, with its stable code.

export type VerifyOutcome =
  | { ok: true; report: Record<string, unknown>; signature: ReportSignature; appliance: EnrolledAppliance | undefined; canonicalText: string }
  | { ok: false; code: ErrorCode; reason: string; problems?: string[] };

/** A signature dated later than this past the verifier's clock is refused. */
export const CLOCK_SKEW_MS = 10 * 60_000;
/** Reports nest 6 levels; anything far deeper is not a report. */
export const MAX_REPORT_DEPTH = 16;

export interface ReportVerifyOptions {
  /** The trusted appliances; without them the signature is checked against its own key only. */
  keys?: EnrolledKeys | undefined;
  now?: Date;
  /**
   * When expiry counts. 'receipt' (the collector): the key must be valid when the document
   * arrives, plus `graceMs` for documents signed before it expired and queued meanwhile — a
   * date the sender writes cannot revive an expired key. 'signature' (offline checks of an
   * archive): the key must have been valid when it signed.
   */
  expiry?: 'receipt' | 'signature';
  graceMs?: number;
}

type Refusal = Extract<VerifyOutcome, { ok: false }>;
const refuse = (code: ErrorCode, reason: string, problems?: string[]): Refusal => ({ ok: false, code, reason, ...(problems ? { problems } : {}) });

export function verifyReportText(text: string, options: ReportVerifyOptions = {}): VerifyOutcome {
  return verifySignedText(text, REPORT_RULES, options);
}

/**
 * What tells one kind of signed document from another: its schema, the time its content is
 * from (never after its signature), and its name in refusals.
 */
export interface SignedDocumentRules {
  what: string;
  validate(document: unknown): string[];
  /** The member holding when the document's content begins or was measured. */
  timeMember: string;
}

const REPORT_RULES: SignedDocumentRules = { what: 'report', validate: validateReport, timeMember: 'started_at' };

export function verifyReport(report: Record<string, unknown>, options: ReportVerifyOptions = {}): VerifyOutcome {
  return verifySignedDocument(report, REPORT_RULES, options);
}

/** Parses then verifies a document of any kind (reports, telemetry). */
export function verifySignedText(text: string, rules: SignedDocumentRules, options: ReportVerifyOptions = {}): VerifyOutcome {
  const parsed = parseDocument(text);
  return 'ok' in parsed ? parsed : verifySignedDocument(parsed.document, rules, options);
}

/** Strictly parsed JSON object, or the refusal. */
export function parseDocument(text: string): { document: Record<string, unknown> } | Refusal {
  let document: unknown;
  try {
    document = parseStrictJson(text, { maxDepth: MAX_REPORT_DEPTH });
  } catch (err) {
    if (err instanceof StrictJsonError) return refuse('USMP_E_REPORT_MALFORMED', `not a valid JSON document: ${err.message}`);
    throw err;
  }
  if (typeof document !== 'object' || document === null || Array.isArray(document)) return refuse('USMP_E_REPORT_MALFORMED', 'not a JSON object');
  return { document: document as Record<string, unknown> };
}

export function verifySignedDocument(report: Record<string, unknown>, rules: SignedDocumentRules, options: ReportVerifyOptions = {}): VerifyOutcome {
  const now = options.now ?? new Date();
  const what = rules.what;
  const signature = signatureOf(report);
  if (signature === 'absent') return refuse('USMP_E_REPORT_UNSIGNED', `the ${what} carries no signature`);
  if (signature === 'malformed')
    return refuse('USMP_E_REPORT_SIGNATURE', 'the signature member is not {algorithm: "Ed25519", key_id, public_key (44 base64 characters), signed_at, value}');
  const claimedAppliance = applianceIdOf(report);

  let appliance: EnrolledAppliance | undefined;
  if (options.keys) {
    appliance = options.keys.find(signature.public_key);
    if (!appliance)
      return refuse('USMP_E_REPORT_KEY_UNKNOWN', `signed by key ${keyIdOf(signature.public_key)} (appliance "${claimedAppliance}"), which is not enrolled`);
  }

  const problems = rules.validate(report);
  if (problems.length > 0)
    return refuse(
      'USMP_E_REPORT_SCHEMA',
      `does not follow the ${what} schema: ${problems.slice(0, 5).join('; ')}${problems.length > 5 ? ` (and ${problems.length - 5} more)` : ''}`,
      problems,
    );
  if (keyIdOf(signature.public_key) !== signature.key_id)
    return refuse('USMP_E_REPORT_SIGNATURE', `signature.key_id ${signature.key_id} is not the id of signature.public_key (${keyIdOf(signature.public_key)})`);
  if (!signatureMatches(report))
    return refuse(
      'USMP_E_REPORT_SIGNATURE',
      `the Ed25519 signature by key ${signature.key_id} does not match the content: the ${what} was changed after it was signed`,
    );

  const signedAt = Date.parse(signature.signed_at);
  const contentAt = Date.parse(report[rules.timeMember] as string);
  if (Number.isNaN(signedAt)) return refuse('USMP_E_REPORT_TIME', `signed_at ${JSON.stringify(signature.signed_at)} is not a date`);
  if (Number.isNaN(contentAt)) return refuse('USMP_E_REPORT_TIME', `${rules.timeMember} ${JSON.stringify(report[rules.timeMember])} is not a date`);
  if (contentAt > signedAt)
    return refuse(
      'USMP_E_REPORT_TIME',
      `${rules.timeMember === 'started_at' ? 'started' : rules.timeMember} at ${String(report[rules.timeMember])}, after it was signed (${signature.signed_at})`,
    );
  if (signedAt > now.getTime() + CLOCK_SKEW_MS)
    return refuse(
      'USMP_E_REPORT_TIME',
      `signed at ${signature.signed_at}, in the future (this clock: ${now.toISOString()}): check the appliance's clock (NTP)`,
    );

  const canonicalText = canonicalJson(report);
  if (!appliance) return { ok: true, report, signature, appliance: undefined, canonicalText };
  const vouched = whatTheKeyVouchesFor(appliance, report, signature, now, options);
  if (vouched) return vouched;
  return { ok: true, report, signature, appliance, canonicalText };
}

/** The refusal when this enrolled key may not vouch for this report now, else undefined. */
function whatTheKeyVouchesFor(
  appliance: EnrolledAppliance,
  report: Record<string, unknown>,
  signature: ReportSignature,
  now: Date,
  options: ReportVerifyOptions,
): Refusal | undefined {
  const keyId = signature.key_id;
  const claimedAppliance = applianceIdOf(report);
  const claimedCode = (report['site'] as { establishment_code: string }).establishment_code;
  if (appliance.appliance_id !== claimedAppliance)
    return refuse('USMP_E_REPORT_KEY_UNKNOWN', `key ${keyId} is enrolled for appliance "${appliance.appliance_id}", but the report says "${claimedAppliance}"`);
  if (appliance.establishment_code === '')
    return refuse(
      'USMP_E_ENROLMENT_INCOMPLETE',
      `key ${keyId} of "${appliance.appliance_id}" was enrolled without an establishment code: it vouches for no site until one is set`,
    );
  if (appliance.establishment_code !== claimedCode)
    return refuse(
      'USMP_E_REPORT_WRONG_SITE',
      `key ${keyId} speaks for establishment ${appliance.establishment_code} only, but the document is for ${JSON.stringify(claimedCode)}`,
    );
  const claimedRegion = (report['site'] as { region: string }).region;
  // regional readers see a site by its region: an appliance cannot move its site to another
  if (appliance.region !== undefined && appliance.region !== claimedRegion)
    return refuse(
      'USMP_E_REPORT_WRONG_SITE',
      `key ${keyId} speaks for establishment ${appliance.establishment_code} in region ${JSON.stringify(appliance.region)}, but the report says ${JSON.stringify(claimedRegion)}`,
    );

  const signedAt = Date.parse(signature.signed_at);
  if (appliance.revoked_at !== undefined && (options.expiry !== 'receipt' || now.getTime() >= Date.parse(appliance.revoked_at)))
    return refuse('USMP_E_REPORT_KEY_REVOKED', `key ${keyId} of "${appliance.appliance_id}" was revoked on ${appliance.revoked_at}`);
  if (signedAt < Date.parse(appliance.enrolled_at))
    return refuse('USMP_E_REPORT_KEY_EXPIRED', `signed at ${signature.signed_at}, before key ${keyId} was enrolled (${appliance.enrolled_at})`);
  if (appliance.expires_at === null) return undefined;
  const expires = endOf(appliance.expires_at);
  if (signedAt > expires)
    return refuse(
      'USMP_E_REPORT_KEY_EXPIRED',
      `signed at ${signature.signed_at}, after key ${keyId} of "${appliance.appliance_id}" expired (${appliance.expires_at})`,
    );
  if (options.expiry === 'receipt' && now.getTime() > expires + (options.graceMs ?? 0)) {
    return refuse(
      'USMP_E_REPORT_KEY_EXPIRED',
      `received ${now.toISOString()}: key ${keyId} of "${appliance.appliance_id}" expired on ${appliance.expires_at}, and the grace for reports queued before that is over`,
    );
  }
  return undefined;
}

function signatureOf(report: Record<string, unknown>): ReportSignature | 'absent' | 'malformed' {
  const s = report['signature'];
  if (s === undefined) return 'absent';
  if (typeof s !== 'object' || s === null || Array.isArray(s)) return 'malformed';
  const fields = s as Record<string, unknown>;
  const strings = ['key_id', 'public_key', 'signed_at', 'value'].every((k) => typeof fields[k] === 'string');
  if (!strings || fields['algorithm'] !== 'Ed25519' || !RAW_KEY.test(fields['public_key'] as string)) return 'malformed';
  return s as ReportSignature;
}

function applianceIdOf(report: Record<string, unknown>): string {
  const site = report['site'];
  const id = typeof site === 'object' && site !== null ? (site as Record<string, unknown>)['appliance_id'] : undefined;
  return typeof id === 'string' ? id.slice(0, 64) : '?';
}

/** A bare date means the whole day (UTC). */
function endOf(date: string): number {
  return /^\d{4}-\d{2}-\d{2}$/.test(date) ? Date.parse(`${date}T23:59:59.999Z`) : Date.parse(date);
}
