import { createPublicKey } from 'node:crypto';
import { UsmpError } from '../errors.js';
import { MIN_KEY_LENGTH, type StampCredential } from '../measure/stamp/authentication.js';
import { parseStrictJson } from '../report/strict-json.js';

// What an appliance holds to be measured by a responder that authenticates: its STAMP key and
// SSID [RFC 8762 §4.2.2; RFC 8972 §3], and its iperf3 user, password and the responder's RSA
// public key (iperf3's --username, IPERF3_PASSWORD, --rsa-public-key-path). Made by
// `usmp-edge responder enroll`, kept in a secret file (qualify.responder_credentials_file).

export const CREDENTIALS_FORMAT = 'usmp-edge-responder-credentials/1';
const MAX_BYTES = 16 * 1024;

export interface IperfCredential {
  username: string;
  password: string;
  rsaPublicKeyPem: string;
}

export interface ResponderCredentials {
  appliance: string;
  stamp: StampCredential;
  iperf3: IperfCredential;
}

export interface CredentialsDocument {
  format: typeof CREDENTIALS_FORMAT;
  appliance: string;
  stamp: { ssid: number; key: string };
  iperf3: { username: string; password: string; rsa_public_key: string };
}

export function credentialsDocument(c: ResponderCredentials): CredentialsDocument {
  return {
    format: CREDENTIALS_FORMAT,
    appliance: c.appliance,
    stamp: { ssid: c.stamp.ssid, key: c.stamp.key.toString('hex') },
    iperf3: { username: c.iperf3.username, password: c.iperf3.password, rsa_public_key: c.iperf3.rsaPublicKeyPem },
  };
}

/** Parses and checks a credentials file's text; every flaw is one coded error saying what to do. */
export function parseResponderCredentials(text: string, source: string): ResponderCredentials {
  const bad = (why: string): UsmpError =>
    new UsmpError('USMP_E_RESPONDER_CREDENTIALS', `${source}: ${why}`, {
      hint: 'make it again with `usmp-edge responder enroll <appliance> --out FILE` on the responder',
    });
  if (Buffer.byteLength(text) > MAX_BYTES) throw bad(`larger than ${MAX_BYTES} octets`);
  let doc: unknown;
  try {
    doc = parseStrictJson(text, { maxDepth: 4 });
  } catch (err) {
    throw bad(`not a credentials document (${(err as Error).message})`);
  }
  const d = doc as Partial<CredentialsDocument>;
  if (typeof d !== 'object' || d === null || d.format !== CREDENTIALS_FORMAT) throw bad(`format is not ${CREDENTIALS_FORMAT}`);
  if (typeof d.appliance !== 'string' || d.appliance === '') throw bad('appliance name missing');
  const ssid = d.stamp?.ssid;
  if (typeof ssid !== 'number' || !Number.isInteger(ssid) || ssid < 1 || ssid > 0xffff) throw bad('stamp.ssid must be an integer from 1 to 65535');
  const key = typeof d.stamp?.key === 'string' && /^([0-9a-f]{2})+$/.test(d.stamp.key) ? Buffer.from(d.stamp.key, 'hex') : undefined;
  if (!key || key.length < MIN_KEY_LENGTH) throw bad(`stamp.key must be at least ${MIN_KEY_LENGTH} octets in hexadecimal`);
  const { username, password, rsa_public_key: pem } = d.iperf3 ?? {};
  if (typeof username !== 'string' || !/^[A-Za-z0-9._-]{1,64}$/.test(username))
    throw bad('iperf3.username must be 1–64 letters, digits, dots, dashes or underscores');
  if (typeof password !== 'string' || password.length < 16 || /[\r\n]/.test(password)) throw bad('iperf3.password must be a line of at least 16 characters');
  try {
    if (typeof pem !== 'string' || createPublicKey(pem).asymmetricKeyType !== 'rsa') throw new Error('not RSA');
  } catch {
    throw bad("iperf3.rsa_public_key must be the responder's RSA public key (PEM)");
  }
  return { appliance: d.appliance, stamp: { ssid, key }, iperf3: { username, password, rsaPublicKeyPem: pem } };
}

/** This appliance's credentials from its configuration; undefined when none are configured. */
export function configuredCredentials(secrets: { get(name: string): string | undefined }): ResponderCredentials | undefined {
  const text = secrets.get('qualify.responder_credentials');
  return text === undefined ? undefined : parseResponderCredentials(text, 'qualify.responder_credentials_file');
}

/** The same, as the optional field the measuring steps take (`{ credentials }` or nothing). */
export function credentialsField(secrets: { get(name: string): string | undefined }): { credentials?: ResponderCredentials } {
  const credentials = configuredCredentials(secrets);
  return credentials ? { credentials } : {};
}
