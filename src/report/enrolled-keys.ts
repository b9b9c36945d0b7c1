import { readFileSync } from 'node:fs';
import { UsmpError } from '../errors.js';
import { keyIdOf } from './signing.js';

// The appliances a collector (or `report verify --keys`) trusts: one entry per appliance key,
// bound to one establishment, valid from enrolled_at to expires_at, until revoked_at if it was
// revoked. A key is found by the whole public key it carries, never by its short id alone.
// How expiry is judged (at signature or at receipt) is verify-report.ts's concern.

export interface EnrolledAppliance {
  appliance_id: string;
  /** Empty in files written before codes were required: such a key vouches for nothing. */
  establishment_code: string;
  /** The interregional direction of the establishment; when set, a report naming another is refused. */
  region?: string | undefined;
  public_key: string;
  key_id: string;
  enrolled_at: string;
  /** null: no end date. */
  expires_at: string | null;
  /** Set by `collector revoke`: from then on the key vouches for nothing. */
  revoked_at?: string | undefined;
}

export const RAW_KEY = /^[A-Za-z0-9+/]{43}=$/;
/** FINESS-style codes (9 characters) and the like; what the national table uses as a site key. */
export const ESTABLISHMENT_CODE = /^[0-9A-Za-z]{1,16}$/;

/** Checks every entry and says which one and which key is wrong. */
export function parseEnrolments(text: string, where: string): EnrolledAppliance[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new UsmpError('USMP_E_ENROLMENT_FILE', `${where} is not JSON: ${(err as Error).message}`);
  }
  const list = (doc as { appliances?: unknown } | null)?.appliances as Array<Record<string, unknown>> | undefined;
  if (!Array.isArray(list)) throw new UsmpError('USMP_E_ENROLMENT_FILE', `${where} must be {"appliances": [...]}`);
  const seen = new Set<string>();
  return list.map((entry, i): EnrolledAppliance => {
    const at = `${where} appliances[${i}]`;
    if (typeof entry !== 'object' || entry === null) throw new UsmpError('USMP_E_ENROLMENT_FILE', `${at} must be an object`);
    const text = (key: string): string => {
      if (typeof entry[key] !== 'string' || entry[key] === '') throw new UsmpError('USMP_E_ENROLMENT_FILE', `${at}.${key} must be a non-empty string`);
      return entry[key];
    };
    const date = (key: string, optional: boolean): string | null => {
      if (optional && (entry[key] === null || entry[key] === undefined)) return null;
      const value = text(key);
      if (Number.isNaN(Date.parse(value)))
        throw new UsmpError('USMP_E_ENROLMENT_FILE', `${at}.${key} must be a date (YYYY-MM-DD or ISO 8601), not ${JSON.stringify(value)}`);
      return value;
    };
    const publicKey = text('public_key');
    if (!RAW_KEY.test(publicKey))
      throw new UsmpError(
        'USMP_E_ENROLMENT_FILE',
        `${at}.public_key must be a raw Ed25519 public key in base64 (44 characters, as printed by usmp-edge report keygen)`,
      );
    const keyId = keyIdOf(publicKey);
    if (entry['key_id'] !== undefined && entry['key_id'] !== keyId)
      throw new UsmpError('USMP_E_ENROLMENT_FILE', `${at}.key_id ${JSON.stringify(entry['key_id'])} does not match its public_key (${keyId})`);
    if (seen.has(keyId)) throw new UsmpError('USMP_E_ENROLMENT_FILE', `${at}: key ${keyId} is enrolled twice`);
    seen.add(keyId);
    const code = entry['establishment_code'];
    if (code !== undefined && code !== '' && (typeof code !== 'string' || !ESTABLISHMENT_CODE.test(code)))
      throw new UsmpError(
        'USMP_E_ENROLMENT_FILE',
        `${at}.establishment_code must be an establishment code (letters and digits, up to 16), not ${JSON.stringify(code)}`,
      );
    const revokedAt = date('revoked_at', true);
    const region = entry['region'];
    if (region !== undefined && (typeof region !== 'string' || region === '' || region.length > 200))
      throw new UsmpError('USMP_E_ENROLMENT_FILE', `${at}.region must be the name of an interregional direction (1 to 200 characters)`);
    return {
      appliance_id: text('appliance_id'),
      establishment_code: typeof code === 'string' ? code : '',
      ...(typeof region === 'string' ? { region } : {}),
      public_key: publicKey,
      key_id: keyId,
      enrolled_at: date('enrolled_at', false)!,
      expires_at: date('expires_at', true),
      ...(revokedAt ? { revoked_at: revokedAt } : {}),
    };
  });
}

export function loadEnrolments(path: string): EnrolledAppliance[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new UsmpError('USMP_E_ENROLMENT_FILE', `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err });
  }
  return parseEnrolments(text, path);
}

export class EnrolledKeys {
  readonly #byKey: Map<string, EnrolledAppliance>;

  constructor(entries: EnrolledAppliance[]) {
    this.#byKey = new Map(entries.map((e) => [keyBytesHex(e.public_key), e]));
  }

  /** The enrolment of exactly this public key (all 32 octets compared). */
  find(publicKeyB64: string): EnrolledAppliance | undefined {
    if (!RAW_KEY.test(publicKeyB64)) return undefined;
    return this.#byKey.get(keyBytesHex(publicKeyB64));
  }

  /** Keys enrolled without an establishment code (they vouch for nothing until one is set). */
  incomplete(): EnrolledAppliance[] {
    return [...this.#byKey.values()].filter((e) => e.establishment_code === '');
  }

  get size(): number {
    return this.#byKey.size;
  }
}

// base64 has more than one spelling of the same octets (the unused low bits of the last
// character): compare the octets.
function keyBytesHex(publicKeyB64: string): string {
  return Buffer.from(publicKeyB64, 'base64').toString('hex');
}
