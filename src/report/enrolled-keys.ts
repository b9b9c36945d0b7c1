import { readFileSync } from 'node:fs';
import { UsmpError } from '../errors.js';
import { keyIdOf } from './signing.js';

// The appliances a collector (or `report verify --keys`) trusts: one entry per appliance key,
// valid from enrolled_at to expires_at. A report counts only if its key was valid when it was
// signed: a key retired when its appliance is replaced still vouches for the reports that
// appliance signed before, queued in its outbox.

export interface EnrolledAppliance {
  appliance_id: string;
  establishment_code: string;
  public_key: string;
  key_id: string;
  enrolled_at: string;
  /** null: no end date. */
  expires_at: string | null;
}

const RAW_KEY = /^[A-Za-z0-9+/]{43}=$/;

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
      return entry[key] as string;
    };
    const date = (key: string, optional: boolean): string | null => {
      if (optional && (entry[key] === null || entry[key] === undefined)) return null;
      const value = text(key);
      if (Number.isNaN(Date.parse(value))) throw new UsmpError('USMP_E_ENROLMENT_FILE', `${at}.${key} must be a date (YYYY-MM-DD or ISO 8601), not ${JSON.stringify(value)}`);
      return value;
    };
    const publicKey = text('public_key');
    if (!RAW_KEY.test(publicKey)) throw new UsmpError('USMP_E_ENROLMENT_FILE', `${at}.public_key must be a raw Ed25519 public key in base64 (44 characters, as printed by usmp-edge report keygen)`);
    const keyId = keyIdOf(publicKey);
    if (entry['key_id'] !== undefined && entry['key_id'] !== keyId) throw new UsmpError('USMP_E_ENROLMENT_FILE', `${at}.key_id ${String(entry['key_id'])} does not match its public_key (${keyId})`);
    if (seen.has(keyId)) throw new UsmpError('USMP_E_ENROLMENT_FILE', `${at}: key ${keyId} is enrolled twice`);
    seen.add(keyId);
    return {
      appliance_id: text('appliance_id'),
      establishment_code: typeof entry['establishment_code'] === 'string' ? entry['establishment_code'] : '',
      public_key: publicKey,
      key_id: keyId,
      enrolled_at: date('enrolled_at', false)!,
      expires_at: date('expires_at', true),
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
  readonly #byKeyId: Map<string, EnrolledAppliance>;

  constructor(entries: EnrolledAppliance[]) {
    this.#byKeyId = new Map(entries.map((e) => [e.key_id, e]));
  }

  find(keyId: string): EnrolledAppliance | undefined {
    return this.#byKeyId.get(keyId);
  }

  get size(): number {
    return this.#byKeyId.size;
  }
}
