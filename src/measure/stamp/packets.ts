import { readNtpTimestamp, writeNtpTimestamp } from './clock.js';
import { signTlvs, stampHmac, type StampCredential } from './authentication.js';

// STAMP test packets in both modes. [RFC 8762 §4.2.1, §4.2.2, §4.3.1, §4.3.2; RFC 8972 §3, §4]
//
// Unauthenticated Session-Sender (44 octets + TLVs):
//   0 Sequence Number (4) | 4 Timestamp (8) | 12 Error Estimate (2) | 14 SSID (2) | 16 MBZ (28)
// Unauthenticated Session-Reflector (44 octets + TLVs):
//   0 Sequence Number (4) | 4 Timestamp T3 (8) | 12 Error Estimate (2) | 14 SSID (2)
//   16 Receive Timestamp T2 (8) | 24 Sender Sequence Number (4) | 28 Sender Timestamp T1 (8)
//   36 Sender Error Estimate (2) | 38 MBZ (2) | 40 Sender TTL (1) | 41 MBZ (3)
// Authenticated Session-Sender (112 octets + TLVs):
//   0 Sequence Number (4) | 4 MBZ (12) | 16 Timestamp (8) | 24 Error Estimate (2) | 26 SSID (2)
//   28 MBZ (68) | 96 HMAC (16)
// Authenticated Session-Reflector (112 octets + TLVs):
//   0 Sequence Number (4) | 4 MBZ (12) | 16 Timestamp T3 (8) | 24 Error Estimate (2) | 26 SSID (2)
//   28 MBZ (4) | 32 Receive Timestamp T2 (8) | 40 MBZ (8) | 48 Sender Sequence Number (4)
//   52 MBZ (12) | 64 Sender Timestamp T1 (8) | 72 Sender Error Estimate (2) | 74 MBZ (6)
//   80 Sender TTL (1) | 81 MBZ (15) | 96 HMAC (16)
// The HMAC covers the octets before it [RFC 8762 §4.4]; TLVs are covered by an HMAC TLV, last,
// over the Sequence Number and the TLVs before it [RFC 8972 §4.8]. Offsets also checked against
// the layouts of an independent implementation (asmie/stamp-suite, src/packets.rs).

export const BASE_LENGTH = 44;
export const AUTH_BASE_LENGTH = 112;
export const HMAC_OFFSET = 96;
export const MAX_PACKET_LENGTH = 1472; // one unfragmented datagram on a 1500-byte MTU
export const DEFAULT_STAMP_PORT = 862;

export const TLV_TYPE = { EXTRA_PADDING: 1, CLASS_OF_SERVICE: 4, HMAC: 8 } as const;
export const TLV_FLAG = { UNRECOGNIZED: 0x80, MALFORMED: 0x40, INTEGRITY: 0x20 } as const;
export const HMAC_TLV_LENGTH = 4 + 16;

export interface SenderLayout {
  base: number;
  timestamp: number;
  errorEstimate: number;
  ssid: number;
}
export interface ReflectorLayout extends SenderLayout {
  receiveTimestamp: number;
  senderSeq: number;
  senderTimestamp: number;
  senderErrorEstimate: number;
  senderTtl: number;
}

export const SENDER_LAYOUT = {
  open: { base: BASE_LENGTH, timestamp: 4, errorEstimate: 12, ssid: 14 },
  authenticated: { base: AUTH_BASE_LENGTH, timestamp: 16, errorEstimate: 24, ssid: 26 },
} as const satisfies Record<string, SenderLayout>;

export const REFLECTOR_LAYOUT = {
  open: {
    base: BASE_LENGTH,
    timestamp: 4,
    errorEstimate: 12,
    ssid: 14,
    receiveTimestamp: 16,
    senderSeq: 24,
    senderTimestamp: 28,
    senderErrorEstimate: 36,
    senderTtl: 40,
  },
  authenticated: {
    base: AUTH_BASE_LENGTH,
    timestamp: 16,
    errorEstimate: 24,
    ssid: 26,
    receiveTimestamp: 32,
    senderSeq: 48,
    senderTimestamp: 64,
    senderErrorEstimate: 72,
    senderTtl: 80,
  },
} as const satisfies Record<string, ReflectorLayout>;

/**
 * Local annotation, never on the wire: an nftables rule of our own copies the first two octets
 * of the IPv4 header (0x45, TOS) into MBZ octets of a received packet, because Node cannot read
 * the TOS byte of a datagram. 0x45 is the marker: a conforming peer sends zeros there.
 * Both offsets are even: the kernel patches the UDP checksum incrementally, taking the
 * rewritten octets as 16-bit words of the datagram [RFC 1624 §3]. At an odd offset (41, the
 * reflector's first MBZ octet, until the lab caught it) the patched checksum was wrong, and a
 * reply the kernel verified in software (a NIC without receive checksum offload, a tunnel)
 * was dropped. Octets 42–43 are MBZ in all four layouts; in authenticated mode they are under
 * the HMAC, so they are set back to zero (what the peer sent) before it is checked.
 */
export const ANNOTATION = { MARKER: 0x45, SENDER_PACKET_OFFSET: 42, REFLECTOR_PACKET_OFFSET: 42 } as const;

export interface SenderPacket {
  seq: number;
  timestampNs: bigint;
  errorEstimate: number;
  ssid: number;
  /** Class-of-Service request: DSCP/ECN wanted on the reflected packet. */
  cos?: { dscp: number; ecn: number };
}

/** The smallest sender packet for these options (the reply has the same size). */
export function minimumSenderLength(cos: boolean, authenticated: boolean): number {
  const base = authenticated ? AUTH_BASE_LENGTH : BASE_LENGTH;
  return base + (cos ? 8 + (authenticated ? HMAC_TLV_LENGTH : 0) : 0);
}

/**
 * A sender packet of `length` octets (at least the minimum). With a credential it is in the
 * authenticated format, its SSID is the credential's, and it is signed.
 */
export function encodeSenderPacket(packet: SenderPacket, length: number, credential?: StampCredential): Buffer {
  const layout = credential ? SENDER_LAYOUT.authenticated : SENDER_LAYOUT.open;
  const buffer = Buffer.alloc(Math.max(length, minimumSenderLength(packet.cos !== undefined, credential !== undefined)));
  buffer.writeUInt32BE(packet.seq >>> 0, 0);
  writeNtpTimestamp(buffer, layout.timestamp, packet.timestampNs);
  buffer.writeUInt16BE(packet.errorEstimate, layout.errorEstimate);
  buffer.writeUInt16BE(credential ? credential.ssid : packet.ssid, layout.ssid);
  if (packet.cos) {
    let at: number = layout.base;
    writeTlvHeader(buffer, at, 0, TLV_TYPE.CLASS_OF_SERVICE, 4);
    buffer[at + 4] = ((packet.cos.dscp & 0x3f) << 2) | (packet.cos.ecn & 0x3);
    at += 8;
    const end = buffer.length - (credential ? HMAC_TLV_LENGTH : 0);
    // [RFC 8972 §4.1] with TLVs present, padding travels in an Extra Padding TLV
    if (end - at >= 4) {
      writeTlvHeader(buffer, at, 0, TLV_TYPE.EXTRA_PADDING, end - at - 4);
      at = end;
    }
    if (credential) {
      writeTlvHeader(buffer, at, 0, TLV_TYPE.HMAC, 16);
      signTlvs(buffer, layout.base, at, credential.key);
    }
  }
  if (credential) stampHmac(credential.key, buffer.subarray(0, HMAC_OFFSET)).copy(buffer, HMAC_OFFSET);
  return buffer;
}

export function writeTlvHeader(buffer: Buffer, offset: number, flags: number, type: number, length: number): void {
  buffer[offset] = flags;
  buffer[offset + 1] = type;
  buffer.writeUInt16BE(length, offset + 2);
}

export interface Tlv {
  offset: number;
  flags: number;
  type: number;
  length: number;
}

/**
 * The TLVs after the base packet. An all-zero tail is padding (TWAMP-Light style), not TLVs.
 * A TLV whose length runs past the packet ends the list and is reported as malformed.
 */
export function parseTlvs(packet: Buffer, base = BASE_LENGTH): { tlvs: Tlv[]; malformedAt?: number } {
  const tlvs: Tlv[] = [];
  if (packet.length <= base || packet.subarray(base).every((b) => b === 0)) return { tlvs };
  let offset = base;
  while (offset + 4 <= packet.length) {
    const length = packet.readUInt16BE(offset + 2);
    if (offset + 4 + length > packet.length) return { tlvs, malformedAt: offset };
    tlvs.push({ offset, flags: packet[offset]!, type: packet[offset + 1]!, length });
    offset += 4 + length;
  }
  return offset === packet.length ? { tlvs } : { tlvs, malformedAt: offset };
}

export interface ReflectorPacket {
  seq: number;
  timestampNs: bigint; // T3
  errorEstimate: number;
  ssid: number;
  receiveTimestampNs: bigint; // T2
  senderSeq: number;
  senderTimestampNs: bigint; // T1
  senderErrorEstimate: number;
  senderTtl: number;
  cos?: { dscp1: number; ecn1: number; dscp2: number; ecn2: number; rp: number; flags: number };
  /** TOS byte of this packet as it arrived here, when our nftables annotation is installed. */
  arrivedTos?: number;
}

/** A reply in the format of `layout` (check an authenticated reply's HMAC first). */
export function decodeReflectorPacket(buffer: Buffer, layout: ReflectorLayout = REFLECTOR_LAYOUT.open): ReflectorPacket | undefined {
  if (buffer.length < layout.base) return undefined;
  const packet: ReflectorPacket = {
    seq: buffer.readUInt32BE(0),
    timestampNs: readNtpTimestamp(buffer, layout.timestamp),
    errorEstimate: buffer.readUInt16BE(layout.errorEstimate),
    ssid: buffer.readUInt16BE(layout.ssid),
    receiveTimestampNs: readNtpTimestamp(buffer, layout.receiveTimestamp),
    senderSeq: buffer.readUInt32BE(layout.senderSeq),
    senderTimestampNs: readNtpTimestamp(buffer, layout.senderTimestamp),
    senderErrorEstimate: buffer.readUInt16BE(layout.senderErrorEstimate),
    senderTtl: buffer[layout.senderTtl]!,
  };
  const at = ANNOTATION.REFLECTOR_PACKET_OFFSET;
  if (buffer[at] === ANNOTATION.MARKER) packet.arrivedTos = buffer[at + 1]!;
  const cos = parseTlvs(buffer, layout.base).tlvs.find((t) => t.type === TLV_TYPE.CLASS_OF_SERVICE && t.length === 4);
  if (cos) {
    const v = cos.offset + 4;
    packet.cos = {
      dscp1: buffer[v]! >> 2,
      ecn1: buffer[v]! & 3,
      dscp2: buffer[v + 1]! >> 2,
      ecn2: buffer[v + 1]! & 3,
      rp: buffer[v + 2]! >> 6,
      flags: cos.flags,
    };
  }
  return packet;
}
