import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { UsmpError } from '../errors.js';
import { writeFileDurably } from '../exec/durable-file.js';
import type { StampKeyring } from '../measure/stamp/authentication.js';
import { parseStrictJson } from '../report/strict-json.js';
import { checkSecretFileAccess } from '../config/secret-file-access.js';
import type { ResponderCredentials } from './appliance-credentials.js';

// The responder's side of each appliance's credentials: its STAMP key by SSID and the hash
// iperf3 checks its password against, in one file only the responder's user reads; and the RSA
// key iperf3 decrypts the client's token with. `usmp-edge responder enroll|revoke|list` edit it.

export const KEYS_FORMAT = 'usmp-edge-responder-keys/1';
const MAX_APPLIANCES = 4096;
const NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/;

/** An appliance the responder knows: its name and STAMP and iperf3 credentials. */
export interface ResponderClient {
  name: string;
  ssid: number;
  stamp_key: string;
  /** sha256 of "{name}password", as iperf3's authorized users file holds it. */
  iperf3_password_sha256: string;
  enrolled_at: string;
}

export interface ResponderKeys {
  format: typeof KEYS_FORMAT;
  appliances: ResponderClient[];
}

export function readResponderKeys(file: string): ResponderKeys {
  let text: string;
  try {
    checkSecretFileAccess(file);
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { format: KEYS_FORMAT, appliances: [] };
    throw err;
  }
  let doc: Partial<ResponderKeys>;
  try {
    doc = parseStrictJson(text, { maxDepth: 4 }) as Partial<ResponderKeys>;
  } catch (err) {
    throw new UsmpError('USMP_E_RESPONDER_CREDENTIALS', `${file}: not a responder key file (${(err as Error).message})`);
  }
  if (doc.format !== KEYS_FORMAT || !Array.isArray(doc.appliances) || doc.appliances.length > MAX_APPLIANCES) {
    throw new UsmpError('USMP_E_RESPONDER_CREDENTIALS', `${file}: not a responder key file (format ${KEYS_FORMAT}, at most ${MAX_APPLIANCES} appliances)`);
  }
  for (const a of doc.appliances) {
    if (
      !NAME.test(String(a.name)) ||
      !Number.isInteger(a.ssid) ||
      a.ssid < 1 ||
      a.ssid > 0xffff ||
      !/^[0-9a-f]{64}$/.test(String(a.stamp_key)) ||
      !/^[0-9a-f]{64}$/.test(String(a.iperf3_password_sha256))
    ) {
      throw new UsmpError('USMP_E_RESPONDER_CREDENTIALS', `${file}: entry ${JSON.stringify(String(a.name)).slice(0, 70)} is malformed`);
    }
  }
  return doc as ResponderKeys;
}

export function writeResponderKeys(file: string, keys: ResponderKeys): void {
  writeFileDurably(file, `${JSON.stringify(keys, null, 2)}\n`, 0o600);
}

export function checkApplianceName(name: string): void {
  if (!NAME.test(name))
    throw new UsmpError(
      'USMP_E_USAGE',
      `appliance name ${JSON.stringify(name).slice(0, 70)}: lower-case letters, digits, dots, dashes and underscores, up to 63`,
    );
}

/** sha256("{user}password") in hexadecimal: iperf3's authorized users file format (iperf3(1), --authorized-users-path). */
export function iperfPasswordHash(username: string, password: string): string {
  return createHash('sha256').update(`{${username}}${password}`).digest('hex');
}

/** The responder's iperf3 RSA key: read, or made (2048 bits) when the file does not exist. */
export function ensureIperfRsaKey(file: string): { publicKeyPem: string } {
  let pem: string;
  try {
    checkSecretFileAccess(file);
    pem = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    const pair = generateKeyPairSync('rsa', {
      modulusLength: 2048,
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
      publicKeyEncoding: { type: 'spki', format: 'pem' },
    });
    writeFileDurably(file, pair.privateKey, 0o600);
    return { publicKeyPem: pair.publicKey };
  }
  return { publicKeyPem: createPublicKey(createPrivateKey(pem)).export({ type: 'spki', format: 'pem' }).toString() };
}

/** Adds an appliance with fresh secrets; returns the store and what the appliance is to hold. */
export function enrollAppliance(
  keys: ResponderKeys,
  name: string,
  rsaPublicKeyPem: string,
  now: Date,
): { keys: ResponderKeys; credentials: ResponderCredentials } {
  checkApplianceName(name);
  if (keys.appliances.some((a) => a.name === name)) {
    throw new UsmpError('USMP_E_USAGE', `appliance ${name} is already enrolled`, {
      hint: `usmp-edge responder revoke ${name} first to give it new credentials`,
    });
  }
  if (keys.appliances.length >= MAX_APPLIANCES) throw new UsmpError('USMP_E_USAGE', `at most ${MAX_APPLIANCES} appliances per responder`);
  const used = new Set(keys.appliances.map((a) => a.ssid));
  let ssid = randomInt(1, 0x10000);
  while (used.has(ssid)) ssid = ssid === 0xffff ? 1 : ssid + 1;
  const key = randomBytes(32);
  const password = randomBytes(24).toString('base64url');
  const entry: ResponderClient = {
    name,
    ssid,
    stamp_key: key.toString('hex'),
    iperf3_password_sha256: iperfPasswordHash(name, password),
    enrolled_at: now.toISOString(),
  };
  return {
    keys: { format: KEYS_FORMAT, appliances: [...keys.appliances, entry] },
    credentials: { appliance: name, stamp: { ssid, key }, iperf3: { username: name, password, rsaPublicKeyPem } },
  };
}

export function revokeAppliance(keys: ResponderKeys, name: string): ResponderKeys {
  if (!keys.appliances.some((a) => a.name === name)) throw new UsmpError('USMP_E_USAGE', `appliance ${name} is not enrolled`);
  return { format: KEYS_FORMAT, appliances: keys.appliances.filter((a) => a.name !== name) };
}

export function keyringOf(keys: ResponderKeys): StampKeyring {
  const bySsid = new Map(keys.appliances.map((a) => [a.ssid, Buffer.from(a.stamp_key, 'hex')]));
  return { keyFor: (ssid) => bySsid.get(ssid) };
}

/** iperf3's --authorized-users-path text: "user,sha256" per line. */
export function authorizedUsers(keys: ResponderKeys): string {
  return keys.appliances.map((a) => `${a.name},${a.iperf3_password_sha256}\n`).join('');
}
