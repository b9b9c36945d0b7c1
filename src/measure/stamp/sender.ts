import { createSocket } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { isIPv6 } from 'node:net';
import { UsmpError } from '../../errors.js';
import { decodeErrorEstimate, encodeErrorEstimate, systemClock, type Clock } from './clock.js';
import { baseAuthentic, hmacTlvOffset, tlvsAuthentic, type StampCredential } from './authentication.js';
import { BASE_LENGTH, decodeReflectorPacket, encodeSenderPacket, parseTlvs, REFLECTOR_LAYOUT } from './packets.js';

// STAMP Session-Sender. [RFC 8762 §4.2] RTT = (T4 − T1) − (T3 − T2): the reflector's own
// turnaround is removed, so the figure is the network's. T1 is read just before send() (libuv
// writes at once when its queue is empty) and T4 first thing in the 'message' handler; what
// that costs is measured in benchmarks/stamp-timestamping.bench.ts.

export interface StampSessionOptions {
  target: string;
  port: number;
  count: number;
  intervalMs: number;
  /** Datagram payload size, ≥ 44 octets; the reply has the same size. */
  size: number;
  ssid?: number;
  /**
   * Authenticated mode [RFC 8762 §4.2.2]: requests signed with this key under its SSID, and
   * replies without its valid HMAC ignored (counted in badHmac). Packets grow to 112 octets.
   */
  credential?: StampCredential;
  /** Ask the reflector which DSCP arrived and to mark its reply (RFC 8972 Class of Service). */
  cos?: { dscp: number; ecn?: number };
  clock?: Clock;
  /** Our clock is synchronised to UTC (NTP/PTP): then one-way delays may be computed. */
  synchronized?: boolean;
  /** How long to wait for late replies after the last send; default from the RTTs seen. */
  waitMs?: number;
  signal?: AbortSignal;
  onReply?: (record: StampRecord) => void;
}

export interface StampRecord {
  seq: number;
  sentNs: bigint;
  receivedNs?: bigint;
  rttNs?: bigint;
  /** One-way delays, only when both clocks say they are synchronised. */
  forwardNs?: bigint;
  backwardNs?: bigint;
  /**
   * The same differences whatever the clocks say: each carries the clocks' offset, unknown but
   * constant over a session, so their variation is each direction's own (autorate uses it).
   */
  oneWayRawNs?: { forward: bigint; backward: bigint };
  reflectorSeq?: number;
  /** DSCP the reflector saw arrive (Class-of-Service TLV DSCP2), when it could tell. */
  dscpAtReflector?: number;
  /** DSCP the reply arrived with here, when our annotation rule is installed. */
  dscpAtSender?: number;
  /** The reflector flagged the Class-of-Service TLV as not processed (RFC 8972 U flag). */
  cosUnprocessed?: boolean;
  duplicates: number;
  late: boolean;
}

export interface StampSessionResult {
  target: string;
  port: number;
  records: StampRecord[];
  sent: number;
  reordered: number;
  duplicates: number;
  oneWayValid: boolean;
  sendErrors: number;
  /** Authenticated mode: replies whose HMAC did not match, ignored. */
  badHmac: number;
  durationMs: number;
}

export async function resolveTarget(target: string): Promise<string> {
  try {
    return (await lookup(target)).address;
  } catch (err) {
    throw new UsmpError('USMP_E_TARGET_UNREACHABLE', `cannot resolve ${target} (${(err as NodeJS.ErrnoException).code ?? 'error'})`, { cause: err });
  }
}

export async function runStampSession(options: StampSessionOptions): Promise<StampSessionResult> {
  if (options.size < BASE_LENGTH) throw new UsmpError('USMP_E_USAGE', `STAMP packets are at least ${BASE_LENGTH} octets (asked ${options.size})`);
  const clock = options.clock ?? systemClock();
  const address = await resolveTarget(options.target);
  const socket = createSocket({ type: isIPv6(address) ? 'udp6' : 'udp4' });
  const errorEstimate = encodeErrorEstimate({ synchronized: options.synchronized ?? false, errorSeconds: options.synchronized ? 0.001 : 0.1 });
  const records: StampRecord[] = [];
  const started = process.hrtime.bigint();
  let maxSeqSeen = -1;
  let reordered = 0;
  let duplicates = 0;
  let sendErrors = 0;
  let badHmac = 0;
  const credential = options.credential;
  const layout = credential ? REFLECTOR_LAYOUT.authenticated : REFLECTOR_LAYOUT.open;
  let maxRttMs = 0;
  let oneWayValid = options.synchronized ?? false;

  socket.on('message', (message, peer) => {
    const receivedNs = clock.nowNs(); // T4
    if (peer.address !== address || peer.port !== options.port) return;
    if (credential && !baseAuthentic(message, credential.key)) {
      badHmac++;
      return;
    }
    const reply = decodeReflectorPacket(message, layout);
    const record = reply ? records[reply.senderSeq] : undefined;
    if (!reply || !record) return;
    if (record.receivedNs !== undefined) {
      record.duplicates++;
      duplicates++;
      return;
    }
    record.receivedNs = receivedNs;
    record.rttNs = receivedNs - record.sentNs - (reply.timestampNs - reply.receiveTimestampNs);
    record.reflectorSeq = reply.seq;
    if (!decodeErrorEstimate(reply.errorEstimate).synchronized) oneWayValid = false;
    record.forwardNs = reply.receiveTimestampNs - record.sentNs;
    record.backwardNs = receivedNs - reply.timestampNs;
    record.oneWayRawNs = { forward: record.forwardNs, backward: record.backwardNs };
    if (reply.cos && credential && !repliedTlvsAuthentic(message, credential)) {
      record.cosUnprocessed = true; // [RFC 8972 §4.8] TLVs without a valid HMAC TLV are not trusted
    } else if (reply.cos) {
      if (reply.cos.flags & 0x80) record.cosUnprocessed = true;
      else record.dscpAtReflector = reply.cos.dscp2;
    }
    if (reply.arrivedTos !== undefined) record.dscpAtSender = reply.arrivedTos >> 2;
    if (reply.senderSeq < maxSeqSeen) {
      record.late = true;
      reordered++;
    }
    maxSeqSeen = Math.max(maxSeqSeen, reply.senderSeq);
    maxRttMs = Math.max(maxRttMs, Number(record.rttNs) / 1e6);
    options.onReply?.(record);
  });

  const aborted = (): UsmpError => new UsmpError('USMP_E_ABORTED', 'latency probe interrupted');
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, () => resolve());
    });
    for (let seq = 0; seq < options.count; seq++) {
      if (options.signal?.aborted) throw aborted();
      await sleepUntil(started + BigInt(Math.round(seq * options.intervalMs * 1e6)), options.signal);
      const sentNs = clock.nowNs(); // T1
      const packet = encodeSenderPacket(
        {
          seq,
          timestampNs: sentNs,
          errorEstimate,
          ssid: options.ssid ?? 0,
          ...(options.cos ? { cos: { dscp: options.cos.dscp, ecn: options.cos.ecn ?? 0 } } : {}),
        },
        options.size,
        credential,
      );
      records.push({ seq, sentNs, duplicates: 0, late: false });
      socket.send(packet, options.port, address, (err) => {
        if (err) sendErrors++;
      });
    }
    const wait = options.waitMs ?? Math.min(5_000, Math.max(1_000, 3 * maxRttMs));
    await sleepUntil(process.hrtime.bigint() + BigInt(Math.round(wait * 1e6)), options.signal);
    if (options.signal?.aborted) throw aborted();
  } finally {
    await new Promise<void>((resolve) => socket.close(() => resolve()));
  }
  if (!oneWayValid) {
    for (const r of records) {
      delete r.forwardNs;
      delete r.backwardNs;
    }
  }
  return {
    target: options.target,
    port: options.port,
    records,
    sent: records.length,
    reordered,
    duplicates,
    oneWayValid,
    sendErrors,
    badHmac,
    durationMs: Number(process.hrtime.bigint() - started) / 1e6,
  };
}

function repliedTlvsAuthentic(reply: Buffer, credential: StampCredential): boolean {
  const { tlvs, malformedAt } = parseTlvs(reply, REFLECTOR_LAYOUT.authenticated.base);
  const at = malformedAt === undefined ? hmacTlvOffset(reply, tlvs.at(-1)) : undefined;
  return at !== undefined && tlvsAuthentic(reply, REFLECTOR_LAYOUT.authenticated.base, at, credential.key);
}

function sleepUntil(deadline: bigint, signal?: AbortSignal): Promise<void> {
  const ms = Number(deadline - process.hrtime.bigint()) / 1e6;
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
