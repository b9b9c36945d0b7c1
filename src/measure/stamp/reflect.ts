import { writeNtpTimestamp } from './clock.js';
import { ANNOTATION, BASE_LENGTH, MAX_PACKET_LENGTH, parseTlvs, TLV_FLAG, TLV_TYPE } from './packets.js';

// The Session-Reflector's packet transformation, without sockets: testable byte for byte.
// [RFC 8762 §4.3; RFC 8972 §4]

export type DropReason = 'too_short' | 'too_long';

export interface ReflectInput {
  request: Buffer;
  /** T2, taken when the datagram was read. */
  receiveNs: bigint;
  /** Our Sequence Number: the sender's (stateless) or our per-session counter (stateful). */
  seq: number;
  errorEstimate: number;
}

export interface ReflectOutput {
  reply: Buffer;
  /** Offset where T3 goes: written just before the reply is sent. */
  t3Offset: number;
  /** DSCP wanted on the reply (Class-of-Service TLV), for the reply-marking rule. */
  requestedDscp?: number;
  malformedTlv: boolean;
}

export function reflect(input: ReflectInput): ReflectOutput | DropReason {
  const { request } = input;
  // [RFC 8762 §4.6] a reply never exceeds its request: no amplification, so requests shorter
  // than the 44-octet reflector packet are not answered.
  if (request.length < BASE_LENGTH) return 'too_short';
  if (request.length > MAX_PACKET_LENGTH) return 'too_long';

  const reply = Buffer.alloc(request.length);
  reply.writeUInt32BE(input.seq >>> 0, 0);
  reply.writeUInt16BE(input.errorEstimate, 12);
  request.copy(reply, 14, 14, 16); // SSID [RFC 8972 §3]
  writeNtpTimestamp(reply, 16, input.receiveNs);
  request.copy(reply, 24, 0, 4); // Session-Sender Sequence Number
  request.copy(reply, 28, 4, 12); // Session-Sender Timestamp
  request.copy(reply, 36, 12, 14); // Session-Sender Error Estimate
  // Sender TTL (octet 40) stays 0: Node cannot read the IP TTL of a datagram. [RFC 8762 §4.3.1]

  const at = ANNOTATION.SENDER_PACKET_OFFSET;
  const arrivedTos = request[at] === ANNOTATION.MARKER ? request[at + 1] : undefined;
  const { tlvs, malformedAt } = parseTlvs(request);
  let requestedDscp: number | undefined;
  for (const tlv of tlvs) {
    request.copy(reply, tlv.offset, tlv.offset, tlv.offset + 4 + tlv.length);
    if (tlv.type === TLV_TYPE.CLASS_OF_SERVICE && tlv.length === 4) {
      const v = tlv.offset + 4;
      if (arrivedTos === undefined) {
        // We cannot say which DSCP arrived (no annotation rule on this host): say we could not
        // process the TLV rather than report a DSCP we did not see.
        reply[tlv.offset] = tlv.flags | TLV_FLAG.UNRECOGNIZED;
      } else {
        reply[v + 1] = arrivedTos; // DSCP2 | ECN2: as received [RFC 8972 §4.4]
        reply[v + 2] = 0; // RP = 0: the reply is marked with DSCP1 by the reply rule
        reply[v + 3] = 0;
        requestedDscp = request[v]! >> 2;
      }
    } else if (tlv.type !== TLV_TYPE.EXTRA_PADDING) {
      reply[tlv.offset] = tlv.flags | TLV_FLAG.UNRECOGNIZED; // [RFC 8972 §4] copy, flag U
    }
  }
  if (malformedAt !== undefined) {
    request.copy(reply, malformedAt, malformedAt);
    reply[malformedAt] = (request[malformedAt] ?? 0) | TLV_FLAG.MALFORMED;
  }
  return { reply, t3Offset: 4, ...(requestedDscp === undefined ? {} : { requestedDscp }), malformedTlv: malformedAt !== undefined };
}
