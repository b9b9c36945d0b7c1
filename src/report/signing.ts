import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { UsmpError } from '../errors.js';
import { canonicalJson } from './canonical-json.js';

// Each appliance signs its reports with its own Ed25519 key [RFC 8032]; the signature covers
// the JCS form of the report without its `signature` member [RFC 8785], so re-indenting the
// file changes nothing while any changed value breaks it. The public key travels in the
// report; the collector trusts it only when its key_id is enrolled (enrolled-keys.ts).

export interface ReportSignature {
  algorithm: 'Ed25519';
  /** First 16 hex digits of SHA-256(raw public key). */
  key_id: string;
  /** Raw 32-octet public key, base64. */
  public_key: string;
  signed_at: string;
  /** 64-octet signature, base64. */
  value: string;
}

export interface SigningKey {
  privateKey: KeyObject;
  publicKeyB64: string;
  keyId: string;
}

export function rawPublicKeyB64(publicKey: KeyObject): string {
  const jwk = publicKey.export({ format: 'jwk' });
  return Buffer.from(jwk.x!, 'base64url').toString('base64');
}

export function keyIdOf(publicKeyB64: string): string {
  return createHash('sha256').update(Buffer.from(publicKeyB64, 'base64')).digest('hex').slice(0, 16);
}

export function publicKeyFromRaw(publicKeyB64: string): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(publicKeyB64, 'base64').toString('base64url') }, format: 'jwk' });
}

/** Creates the appliance key (private PEM, mode 0600); refuses to overwrite one. */
export function generateSigningKey(path: string): SigningKey {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  try {
    writeFileSync(path, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600, flag: 'wx' });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UsmpError(
      'USMP_E_SIGNING_KEY',
      code === 'EEXIST'
        ? `${path} exists already: an appliance keeps its key (remove the file first to replace it, then enrol the new key)`
        : `cannot write ${path}: ${code ?? String(err)}`,
      { cause: err },
    );
  }
  const publicKeyB64 = rawPublicKeyB64(publicKey);
  return { privateKey, publicKeyB64, keyId: keyIdOf(publicKeyB64) };
}

export function loadSigningKey(path: string): SigningKey {
  let pem: string;
  try {
    pem = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UsmpError(
      'USMP_E_SIGNING_KEY',
      code === 'ENOENT' ? `no appliance key at ${path}` : `cannot read the appliance key ${path}: ${code ?? String(err)}`,
      { cause: err },
    );
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(pem);
  } catch (err) {
    throw new UsmpError('USMP_E_SIGNING_KEY', `${path} is not a PEM private key`, { cause: err });
  }
  if (privateKey.asymmetricKeyType !== 'ed25519')
    throw new UsmpError('USMP_E_SIGNING_KEY', `${path} holds a ${privateKey.asymmetricKeyType ?? '?'} key, not Ed25519`);
  if ((statSync(path).mode & 0o077) !== 0)
    throw new UsmpError('USMP_E_SIGNING_KEY', `${path} is readable by other users (mode ${(statSync(path).mode & 0o777).toString(8)}); chmod 600 it`);
  const publicKeyB64 = rawPublicKeyB64(createPublicKey(privateKey));
  return { privateKey, publicKeyB64, keyId: keyIdOf(publicKeyB64) };
}

export function withoutSignature(report: Record<string, unknown>): Record<string, unknown> {
  const { signature: _signature, ...rest } = report;
  return rest;
}

/** The report with its `signature` member (any previous one replaced). */
export function signReport(report: Record<string, unknown>, key: SigningKey, now: Date = new Date()): Record<string, unknown> {
  const body = withoutSignature(report);
  const signature: ReportSignature = {
    algorithm: 'Ed25519',
    key_id: key.keyId,
    public_key: key.publicKeyB64,
    signed_at: now.toISOString(),
    value: '',
  };
  const message = Buffer.from(canonicalJson({ ...body, signature: { ...signature, value: undefined } }));
  signature.value = sign(null, message, key.privateKey).toString('base64');
  return { ...body, signature };
}

/** True when `value` signs the report (with signature.value left out) under `public_key`. */
export function signatureMatches(report: Record<string, unknown>): boolean {
  const signature = report['signature'] as ReportSignature;
  const message = Buffer.from(canonicalJson({ ...withoutSignature(report), signature: { ...signature, value: undefined } }));
  try {
    return verify(null, message, publicKeyFromRaw(signature.public_key), Buffer.from(signature.value, 'base64'));
  } catch {
    return false;
  }
}
