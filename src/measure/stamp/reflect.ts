import { writeNtpTimestamp } from './clock.js';
import { hmacTlvOffset, signTlvs, stampHmac, tlvsAuthentic, type StampCredential } from './authentication.js';
import { ANNOTATION, HMAC_OFFSET, MAX_PACKET_LENGTH, parseTlvs, REFLECTOR_LAYOUT, SENDER_LAYOUT, TLV_FLAG, TLV_TYPE } from './packets.js';

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
  /** The request was authenticated with this credential: the reply is in that mode too. */
  credential?: StampCredential;
}

export interface ReflectOutput {
  reply: Buffer;
  /** Offset where T3 goes: written by sealReply() just before the reply is sent. */
  t3Offset: number;
  /** DSCP wanted on the reply (Class-of-Service TLV), for the reply-marking rule. */
  requestedDscp?: number;
  malformedTlv: boolean;
  /** Authenticated mode: the TLVs came without a valid HMAC TLV and were not acted on. */
  tlvIntegrityFailed: boolean;
  credential?: StampCredential;
}

export function reflect(input: ReflectInput): ReflectOutput | DropReason {
  const { request, credential } = input;
  const from = credential ? SENDER_LAYOUT.authenticated : SENDER_LAYOUT.open;
  const to = credential ? REFLECTOR_LAYOUT.authenticated : REFLECTOR_LAYOUT.open;
  // [RFC 8762 §4.6] a reply never exceeds its request: no amplification, so requests shorter
  // than the reflector packet are not answered.
  if (request.length < to.base) return 'too_short';
  if (request.length > MAX_PACKET_LENGTH) return 'too_long';

  const reply = Buffer.alloc(request.length);
  reply.writeUInt32BE(input.seq >>> 0, 0);
  reply.writeUInt16BE(input.errorEstimate, to.errorEstimate);
  request.copy(reply, to.ssid, from.ssid, from.ssid + 2); // SSID [RFC 8972 §3]
  writeNtpTimestamp(reply, to.receiveTimestamp, input.receiveNs);
  request.copy(reply, to.senderSeq, 0, 4); // Session-Sender Sequence Number
  request.copy(reply, to.senderTimestamp, from.timestamp, from.timestamp + 8); // Session-Sender Timestamp
  request.copy(reply, to.senderErrorEstimate, from.errorEstimate, from.errorEstimate + 2);
  // Sender TTL stays 0: Node cannot read the IP TTL of a datagram. [RFC 8762 §4.3.1]

  const at = ANNOTATION.SENDER_PACKET_OFFSET;
  const arrivedTos = request[at] === ANNOTATION.MARKER ? request[at + 1] : undefined;
  const { tlvs, malformedAt } = parseTlvs(request, from.base);
  // [RFC 8972 §4.8] in authenticated mode TLVs are trusted only under a valid HMAC TLV, the last
  // one; otherwise each is returned with the I flag and none is acted on.
  const hmacTlvAt = credential && malformedAt === undefined ? hmacTlvOffset(request, tlvs.at(-1)) : undefined;
  const tlvIntegrityFailed =
    credential !== undefined && tlvs.length > 0 && (hmacTlvAt === undefined || !tlvsAuthentic(request, from.base, hmacTlvAt, credential.key));
  let requestedDscp: number | undefined;
  for (const tlv of tlvs) {
    request.copy(reply, tlv.offset, tlv.offset, tlv.offset + 4 + tlv.length);
    if (tlvIntegrityFailed) {
      reply[tlv.offset] = tlv.flags | TLV_FLAG.INTEGRITY;
    } else if (tlv.type === TLV_TYPE.CLASS_OF_SERVICE && tlv.length === 4) {
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
    } else if (tlv.type !== TLV_TYPE.EXTRA_PADDING && !(credential && tlv.offset === hmacTlvAt)) {
      reply[tlv.offset] = tlv.flags | TLV_FLAG.UNRECOGNIZED; // [RFC 8972 §4] copy, flag U
    }
  }
  if (malformedAt !== undefined) {
    request.copy(reply, malformedAt, malformedAt);
    reply[malformedAt] = (request[malformedAt] ?? 0) | TLV_FLAG.MALFORMED;
  }
  if (credential && hmacTlvAt !== undefined && !tlvIntegrityFailed) signTlvs(reply, to.base, hmacTlvAt, credential.key);
  return {
    reply,
    t3Offset: to.timestamp,
    ...(requestedDscp === undefined ? {} : { requestedDscp }),
    malformedTlv: malformedAt !== undefined,
    tlvIntegrityFailed,
    ...(credential ? { credential } : {}),
  };
}

/** T3, then (authenticated mode) the HMAC that covers it: the last thing before sending. */
export function sealReply(out: ReflectOutput, t3Ns: bigint): void {
  writeNtpTimestamp(out.reply, out.t3Offset, t3Ns);
  if (out.credential) stampHmac(out.credential.key, out.reply.subarray(0, HMAC_OFFSET)).copy(out.reply, HMAC_OFFSET);
}
