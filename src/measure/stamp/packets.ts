import { readNtpTimestamp, writeNtpTimestamp } from './clock.js';

// STAMP test packets, unauthenticated mode. [RFC 8762 §4.2.1, §4.3.1; RFC 8972 §3, §4]
//
// Session-Sender (44 octets + TLVs):
//   0 Sequence Number (4) | 4 Timestamp (8) | 12 Error Estimate (2) | 14 SSID (2) | 16 MBZ (28)
// Session-Reflector (44 octets + TLVs):
//   0 Sequence Number (4) | 4 Timestamp T3 (8) | 12 Error Estimate (2) | 14 SSID (2)
//   16 Receive Timestamp T2 (8) | 24 Sender Sequence Number (4) | 28 Sender Timestamp T1 (8)
//   36 Sender Error Estimate (2) | 38 MBZ (2) | 40 Sender TTL (1) | 41 MBZ (3)

export const BASE_LENGTH = 44;
export const MAX_PACKET_LENGTH = 1472; // one unfragmented datagram on a 1500-byte MTU
export const DEFAULT_STAMP_PORT = 862;

export const TLV_TYPE = { EXTRA_PADDING: 1, CLASS_OF_SERVICE: 4 } as const;
export const TLV_FLAG = { UNRECOGNIZED: 0x80, MALFORMED: 0x40, INTEGRITY: 0x20 } as const;

/**
 * Local annotation, never on the wire: an nftables rule of our own copies the first two octets
 * of the IPv4 header (0x45, TOS) into MBZ octets of a received packet, because Node cannot read
 * the TOS byte of a datagram. 0x45 is the marker: a conforming peer sends zeros there.
 * Both offsets are even: the kernel patches the UDP checksum incrementally, taking the
 * rewritten octets as 16-bit words of the datagram [RFC 1624 §3]. At an odd offset (41, the
 * reflector's first MBZ octet, until the lab caught it) the patched checksum was wrong, and a
 * reply the kernel verified in software (a NIC without receive checksum offload, a tunnel)
 * was dropped.
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

export function encodeSenderPacket(packet: SenderPacket, length: number): Buffer {
  const minimum = BASE_LENGTH + (packet.cos ? 8 : 0);
  const buffer = Buffer.alloc(Math.max(length, minimum));
  buffer.writeUInt32BE(packet.seq >>> 0, 0);
  writeNtpTimestamp(buffer, 4, packet.timestampNs);
  buffer.writeUInt16BE(packet.errorEstimate, 12);
  buffer.writeUInt16BE(packet.ssid, 14);
  if (packet.cos) {
    writeTlvHeader(buffer, BASE_LENGTH, 0, TLV_TYPE.CLASS_OF_SERVICE, 4);
    buffer[BASE_LENGTH + 4] = ((packet.cos.dscp & 0x3f) << 2) | (packet.cos.ecn & 0x3);
    const rest = buffer.length - (BASE_LENGTH + 8);
    // [RFC 8972 §4.1] with TLVs present, padding travels in an Extra Padding TLV
    if (rest >= 4) writeTlvHeader(buffer, BASE_LENGTH + 8, 0, TLV_TYPE.EXTRA_PADDING, rest - 4);
  }
  return buffer;
}

function writeTlvHeader(buffer: Buffer, offset: number, flags: number, type: number, length: number): void {
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
 * The TLVs after the 44-octet base. An all-zero tail is padding (TWAMP-Light style), not TLVs.
 * A TLV whose length runs past the packet ends the list and is reported as malformed.
 */
export function parseTlvs(packet: Buffer): { tlvs: Tlv[]; malformedAt?: number } {
  const tlvs: Tlv[] = [];
  if (packet.length <= BASE_LENGTH || packet.subarray(BASE_LENGTH).every((b) => b === 0)) return { tlvs };
  let offset = BASE_LENGTH;
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

export function decodeReflectorPacket(buffer: Buffer): ReflectorPacket | undefined {
  if (buffer.length < BASE_LENGTH) return undefined;
  const packet: ReflectorPacket = {
    seq: buffer.readUInt32BE(0),
    timestampNs: readNtpTimestamp(buffer, 4),
    errorEstimate: buffer.readUInt16BE(12),
    ssid: buffer.readUInt16BE(14),
    receiveTimestampNs: readNtpTimestamp(buffer, 16),
    senderSeq: buffer.readUInt32BE(24),
    senderTimestampNs: readNtpTimestamp(buffer, 28),
    senderErrorEstimate: buffer.readUInt16BE(36),
    senderTtl: buffer[40]!,
  };
  const at = ANNOTATION.REFLECTOR_PACKET_OFFSET;
  if (buffer[at] === ANNOTATION.MARKER) packet.arrivedTos = buffer[at + 1]!;
  const cos = parseTlvs(buffer).tlvs.find((t) => t.type === TLV_TYPE.CLASS_OF_SERVICE && t.length === 4);
  if (cos) {
    const v = cos.offset + 4;
    packet.cos = { dscp1: buffer[v]! >> 2, ecn1: buffer[v]! & 3, dscp2: buffer[v + 1]! >> 2, ecn2: buffer[v + 1]! & 3, rp: buffer[v + 2]! >> 6, flags: cos.flags };
  }
  return packet;
}
