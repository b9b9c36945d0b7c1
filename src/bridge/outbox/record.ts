import { crc32 } from 'node:zlib';

// One outbox record on disk, little-endian:
//   u32 length of what follows the CRC · u32 CRC-32 of it · u64 seq · f64 enqueued-at (ms)
//   u8 qos · u16 topic length · topic (UTF-8) · payload
// A torn write (power loss mid-append) leaves a record whose length or CRC does not match:
// recovery stops there and truncates, so the outbox survives SIGKILL and power loss.

export const HEADER_BYTES = 8;
const FIXED_BODY = 8 + 8 + 1 + 2;
export const MAX_RECORD_BYTES = 16 * 1024 * 1024;

export interface OutboxMessage {
  seq: number;
  enqueuedAtMs: number;
  qos: 0 | 1 | 2;
  topic: string;
  payload: Buffer;
}

export function encodeRecord(m: OutboxMessage): Buffer {
  const topicLength = Buffer.byteLength(m.topic, 'utf8');
  const bodyLength = FIXED_BODY + topicLength + m.payload.length;
  const record = Buffer.allocUnsafe(HEADER_BYTES + bodyLength); // one allocation per record
  const body = record.subarray(HEADER_BYTES);
  body.writeBigUInt64LE(BigInt(m.seq), 0);
  body.writeDoubleLE(m.enqueuedAtMs, 8);
  body.writeUInt8(m.qos, 16);
  body.writeUInt16LE(topicLength, 17);
  body.write(m.topic, FIXED_BODY, 'utf8');
  m.payload.copy(body, FIXED_BODY + topicLength);
  record.writeUInt32LE(bodyLength, 0);
  record.writeUInt32LE(crc32(body), 4);
  return record;
}

export type RecordCheck = { body: Buffer; bytes: number } | { incomplete: true } | { corrupt: string };
export type DecodeOutcome = { message: OutboxMessage; bytes: number } | { incomplete: true } | { corrupt: string };

/** Checks the record at `offset` of `buf` (length, CRC, topic) without copying anything out. */
export function checkRecord(buf: Buffer, offset: number): RecordCheck {
  if (buf.length - offset < HEADER_BYTES) return { incomplete: true };
  const length = buf.readUInt32LE(offset);
  if (length < FIXED_BODY || length > MAX_RECORD_BYTES) return { corrupt: `record length ${length} out of range` };
  if (buf.length - offset - HEADER_BYTES < length) return { incomplete: true };
  const body = buf.subarray(offset + HEADER_BYTES, offset + HEADER_BYTES + length);
  if (crc32(body) !== buf.readUInt32LE(offset + 4)) return { corrupt: 'CRC mismatch' };
  if (FIXED_BODY + body.readUInt16LE(17) > length) return { corrupt: 'topic longer than the record' };
  return { body, bytes: HEADER_BYTES + length };
}

/** The seq of a checked record. */
export function seqOf(body: Buffer): number {
  return Number(body.readBigUInt64LE(0));
}

/** When a checked record was stored (read at recovery without decoding the message). */
export function enqueuedAtOf(body: Buffer): number {
  return body.readDoubleLE(8);
}

/** The topic of a checked record. */
export function topicOf(body: Buffer): string {
  return body.subarray(FIXED_BODY, FIXED_BODY + body.readUInt16LE(17)).toString('utf8');
}

/** The payload size of a checked record. */
export function payloadBytesOf(body: Buffer): number {
  return body.length - FIXED_BODY - body.readUInt16LE(17);
}

/** Decodes the record at `offset` of `buf`. */
export function decodeRecord(buf: Buffer, offset: number): DecodeOutcome {
  const checked = checkRecord(buf, offset);
  if (!('body' in checked)) return checked;
  const { body } = checked;
  const topicLength = body.readUInt16LE(17);
  const qos = body.readUInt8(16);
  return {
    bytes: checked.bytes,
    message: {
      seq: seqOf(body),
      enqueuedAtMs: enqueuedAtOf(body),
      qos: (qos > 2 ? 1 : qos) as 0 | 1 | 2,
      topic: body.subarray(FIXED_BODY, FIXED_BODY + topicLength).toString('utf8'),
      payload: Buffer.from(body.subarray(FIXED_BODY + topicLength)),
    },
  };
}
