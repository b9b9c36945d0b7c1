import { randomBytes, scrypt as scryptCallback, timingSafeEqual, type ScryptOptions } from 'node:crypto';

// Device passwords are stored as scrypt hashes, never in clear. Node 20 has no argon2 in
// `crypto`; scrypt N=2^14, r=8, p=5 is one of OWASP's equivalent scrypt settings (16 MiB per
// check, the same work as N=2^17 p=1 with an eighth of the memory: a connection storm costs
// the appliance 16 MiB per check in progress, and at most MAX_CONCURRENT run at once).
// [OWASP Password Storage Cheat Sheet, scrypt; mosquitto_passwd 2.0 uses 101 PBKDF2 rounds
// by default (mosquitto_passwd(1))] Format: $scrypt$ln=14,r=8,p=5$<salt base64>$<hash base64>

export interface ScryptCost {
  log2N: number;
  r: number;
  p: number;
}

export const DEFAULT_COST: ScryptCost = { log2N: 14, r: 8, p: 5 };
/** Password checks running at once (each holds 128·N·r bytes). */
export const MAX_CONCURRENT = 2;
const KEY_BYTES = 32;
const SALT_BYTES = 16;
const FORMAT = /^\$scrypt\$ln=(\d{1,2}),r=(\d{1,2}),p=(\d{1,2})\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$/;

function derive(password: string, salt: Buffer, cost: ScryptCost): Promise<Buffer> {
  const options: ScryptOptions = { N: 2 ** cost.log2N, r: cost.r, p: cost.p, maxmem: 256 * 2 ** cost.log2N * cost.r + 1024 * 1024 };
  return new Promise((resolve, reject) => {
    scryptCallback(password, salt, KEY_BYTES, options, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

export async function hashPassword(password: string, cost: ScryptCost = DEFAULT_COST): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const key = await derive(password, salt, cost);
  return `$scrypt$ln=${cost.log2N},r=${cost.r},p=${cost.p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

export function isPasswordHash(value: string): boolean {
  return FORMAT.test(value);
}

/** Constant-time check of a password against a stored hash; false for a malformed hash. */
export async function verifyPassword(password: Buffer | string, stored: string): Promise<boolean> {
  const m = FORMAT.exec(stored);
  if (!m) return false;
  const cost = { log2N: Number(m[1]), r: Number(m[2]), p: Number(m[3]) };
  if (cost.log2N < 10 || cost.log2N > 20) return false;
  const expected = Buffer.from(m[5]!, 'base64');
  await acquire();
  try {
    const key = await derive(Buffer.isBuffer(password) ? password.toString('utf8') : password, Buffer.from(m[4]!, 'base64'), cost);
    return key.length === expected.length && timingSafeEqual(key, expected);
  } finally {
    release();
  }
}

let running = 0;
const waiting: Array<() => void> = [];

function acquire(): Promise<void> {
  if (running < MAX_CONCURRENT) {
    running++;
    return Promise.resolve();
  }
  return new Promise((resolve) => waiting.push(resolve));
}

function release(): void {
  const next = waiting.shift();
  if (next)
    next(); // the slot passes to the next check
  else running--;
}

/** A random device password: 24 bytes, base64url (192 bits). */
export function generatePassword(): string {
  return randomBytes(24).toString('base64url');
}
