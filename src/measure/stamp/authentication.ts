import { createHmac, timingSafeEqual } from 'node:crypto';

// STAMP authenticated mode. [RFC 8762 §4.4] HMAC-SHA-256 truncated to 16 octets [RFC 4868 §2.6]
// over the packet before the HMAC field; [RFC 8972 §4.8] the HMAC TLV, last, over the Sequence
// Number and the TLVs before it. Keys are chosen by the SSID [RFC 8972 §3]: one per appliance.

export const HMAC_LENGTH = 16;
export const MIN_KEY_LENGTH = 16;
const HMAC_OFFSET = 96;
const AUTH_BASE_LENGTH = 112;
const HMAC_TLV_TYPE = 8;
const ANNOTATION_OFFSET = 42; // ANNOTATION in packets.ts (kept here to avoid an import cycle)
const ANNOTATION_MARKER = 0x45;

export interface StampCredential {
  /** Session-Sender Identifier naming the key, 1–65535. */
  ssid: number;
  key: Buffer;
}

/** The reflector's keys, by SSID. */
export interface StampKeyring {
  keyFor(ssid: number): Buffer | undefined;
}

export type StampAuthMode = 'open' | 'both' | 'required';

export function stampHmac(key: Buffer, ...parts: Buffer[]): Buffer {
  const mac = createHmac('sha256', key);
  for (const part of parts) mac.update(part);
  return mac.digest().subarray(0, HMAC_LENGTH);
}

/** Writes the HMAC TLV value at `hmacTlvAt` (its header already written). */
export function signTlvs(buffer: Buffer, base: number, hmacTlvAt: number, key: Buffer): void {
  stampHmac(key, buffer.subarray(0, 4), buffer.subarray(base, hmacTlvAt)).copy(buffer, hmacTlvAt + 4);
}

/**
 * The base packet's HMAC is right. Our local DSCP annotation may have rewritten two MBZ octets
 * on arrival: they are checked as the zeros the peer sent.
 */
export function baseAuthentic(packet: Buffer, key: Buffer): boolean {
  if (packet.length < AUTH_BASE_LENGTH) return false;
  let expected: Buffer;
  if (packet[ANNOTATION_OFFSET] === ANNOTATION_MARKER) {
    const covered = Buffer.from(packet.subarray(0, HMAC_OFFSET));
    covered[ANNOTATION_OFFSET] = 0;
    covered[ANNOTATION_OFFSET + 1] = 0;
    expected = stampHmac(key, covered);
  } else {
    expected = stampHmac(key, packet.subarray(0, HMAC_OFFSET));
  }
  return timingSafeEqual(expected, packet.subarray(HMAC_OFFSET, HMAC_OFFSET + HMAC_LENGTH));
}

/** Where the HMAC TLV is when it is the last TLV and well formed; undefined otherwise. */
export function hmacTlvOffset(packet: Buffer, lastTlv: { offset: number; type: number; length: number } | undefined): number | undefined {
  if (!lastTlv || lastTlv.type !== HMAC_TLV_TYPE || lastTlv.length !== HMAC_LENGTH) return undefined;
  return lastTlv.offset + 4 + HMAC_LENGTH === packet.length ? lastTlv.offset : undefined;
}

export function tlvsAuthentic(packet: Buffer, base: number, hmacTlvAt: number, key: Buffer): boolean {
  const expected = stampHmac(key, packet.subarray(0, 4), packet.subarray(base, hmacTlvAt));
  return timingSafeEqual(expected, packet.subarray(hmacTlvAt + 4, hmacTlvAt + 4 + HMAC_LENGTH));
}

export type RequestAuthentication =
  { kind: 'authenticated'; credential: StampCredential } | { kind: 'unauthenticated' } | { kind: 'refused'; reason: 'bad_hmac' | 'unauthenticated' };

/**
 * How the reflector takes a request. An authenticated request names its key by the SSID at
 * octet 26; in an unauthenticated packet those octets are MBZ or padding, and no key has SSID 0,
 * so in `both` mode a request without a known SSID is taken as unauthenticated. A known SSID
 * whose HMAC does not match is refused in every mode but `open`.
 */
export function authenticateRequest(request: Buffer, mode: StampAuthMode, keyring: StampKeyring): RequestAuthentication {
  if (mode === 'open') return { kind: 'unauthenticated' };
  const ssid = request.length >= AUTH_BASE_LENGTH ? request.readUInt16BE(26) : 0;
  const key = ssid === 0 ? undefined : keyring.keyFor(ssid);
  if (key) {
    return baseAuthentic(request, key) ? { kind: 'authenticated', credential: { ssid, key } } : { kind: 'refused', reason: 'bad_hmac' };
  }
  return mode === 'both' ? { kind: 'unauthenticated' } : { kind: 'refused', reason: 'unauthenticated' };
}
