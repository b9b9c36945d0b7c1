import t from 'tap';
import { decodeErrorEstimate, encodeErrorEstimate, readNtpTimestamp, writeNtpTimestamp } from '../../src/measure/stamp/clock.js';
import { ANNOTATION, decodeReflectorPacket, encodeSenderPacket, parseTlvs, TLV_FLAG } from '../../src/measure/stamp/packets.js';
import { reflect } from '../../src/measure/stamp/reflect.js';
import { RateLimiter, SessionTable, sourceNetwork } from '../../src/measure/stamp/sessions.js';

t.test('NTP timestamps: 1900 epoch, 2^-32 fraction, nanosecond round trip', async (t) => {
  const b = Buffer.alloc(8);
  writeNtpTimestamp(b, 0, 0n); // 1970-01-01 is NTP second 2 208 988 800 [RFC 5905 §6]
  t.equal(b.readUInt32BE(0), 2_208_988_800);
  t.equal(b.readUInt32BE(4), 0);
  writeNtpTimestamp(b, 0, 1_500_000_000n); // 1.5 s: fraction is exactly half of 2^32
  t.equal(b.readUInt32BE(4), 0x80000000);
  for (const ns of [1_763_870_000_123_456_789n, 1n, 999_999_999n]) {
    writeNtpTimestamp(b, 0, ns);
    t.equal(readNtpTimestamp(b, 0), ns, `round trip ${ns}`);
  }
});

t.test('error estimate: S bit, scale and multiplier', async (t) => {
  const e = encodeErrorEstimate({ synchronized: true, errorSeconds: 0.001 });
  t.equal(e >> 15, 1, 'S set');
  t.equal((e >> 14) & 1, 0, 'Z = 0: NTP format');
  const back = decodeErrorEstimate(e);
  t.ok(back.errorSeconds >= 0.001 && back.errorSeconds < 0.001 * 1.01, `${back.errorSeconds}`);
  t.equal(decodeErrorEstimate(encodeErrorEstimate({ synchronized: false, errorSeconds: 0 })).errorSeconds, 2 ** -32, 'multiplier never 0');
  t.equal(decodeErrorEstimate(0x0001).synchronized, false);
});

t.test('sender packet layout, with and without the Class-of-Service TLV', async (t) => {
  const plain = encodeSenderPacket({ seq: 7, timestampNs: 5n, errorEstimate: 0x8001, ssid: 9 }, 44);
  t.equal(plain.length, 44);
  t.equal(plain.readUInt32BE(0), 7);
  t.equal(plain.readUInt16BE(12), 0x8001);
  t.equal(plain.readUInt16BE(14), 9);
  t.ok(
    plain.subarray(16).every((x) => x === 0),
    'MBZ',
  );
  t.equal(encodeSenderPacket({ seq: 1, timestampNs: 0n, errorEstimate: 1, ssid: 0 }, 172).length, 172);

  const cos = encodeSenderPacket({ seq: 1, timestampNs: 0n, errorEstimate: 1, ssid: 0, cos: { dscp: 46, ecn: 2 } }, 100);
  t.same([...cos.subarray(44, 52)], [0, 4, 0, 4, 0xba, 0, 0, 0], 'CoS TLV: type 4, length 4, DSCP1|ECN1 = 46<<2|2');
  t.same(
    parseTlvs(cos).tlvs.map((x) => [x.type, x.length]),
    [
      [4, 4],
      [1, 44],
    ],
    'extra padding TLV fills the rest',
  );
});

function request(size = 44, extra?: (b: Buffer) => void): Buffer {
  const b = encodeSenderPacket({ seq: 42, timestampNs: 1_000_000_000_000n, errorEstimate: 0x0001, ssid: 3 }, size);
  extra?.(b);
  return b;
}

t.test('reflect: fields copied, reply as long as the request, short and long dropped', async (t) => {
  const out = reflect({ request: request(64), receiveNs: 1_000_000_500_000n, seq: 42, errorEstimate: 0x8002 });
  if (typeof out === 'string') throw new Error(out);
  t.equal(out.reply.length, 64, 'no amplification');
  const reply = decodeReflectorPacket(out.reply)!;
  t.match(reply, {
    seq: 42,
    senderSeq: 42,
    ssid: 3,
    errorEstimate: 0x8002,
    senderErrorEstimate: 1,
    senderTimestampNs: 1_000_000_000_000n,
    receiveTimestampNs: 1_000_000_500_000n,
    senderTtl: 0,
  });
  t.equal(reflect({ request: Buffer.alloc(43), receiveNs: 0n, seq: 0, errorEstimate: 1 }), 'too_short');
  t.equal(reflect({ request: Buffer.alloc(1473), receiveNs: 0n, seq: 0, errorEstimate: 1 }), 'too_long');
  t.equal(reflect({ request: Buffer.alloc(14), receiveNs: 0n, seq: 0, errorEstimate: 1 }), 'too_short', 'a bare TWAMP-Light header would need amplification');
});

t.test('reflect: Class of Service with and without the local DSCP annotation', async (t) => {
  const cosRequest = (): Buffer => encodeSenderPacket({ seq: 1, timestampNs: 0n, errorEstimate: 1, ssid: 0, cos: { dscp: 34, ecn: 0 } }, 52);
  const plain = reflect({ request: cosRequest(), receiveNs: 0n, seq: 1, errorEstimate: 1 });
  if (typeof plain === 'string') throw new Error(plain);
  t.equal(decodeReflectorPacket(plain.reply)!.cos!.flags & TLV_FLAG.UNRECOGNIZED, TLV_FLAG.UNRECOGNIZED, 'cannot read DSCP here: U flag');
  t.equal(plain.requestedDscp, undefined);

  const annotated = cosRequest();
  annotated[ANNOTATION.SENDER_PACKET_OFFSET] = 0x45;
  annotated[ANNOTATION.SENDER_PACKET_OFFSET + 1] = 0x00; // arrived bleached
  const out = reflect({ request: annotated, receiveNs: 0n, seq: 1, errorEstimate: 1 });
  if (typeof out === 'string') throw new Error(out);
  const reply = decodeReflectorPacket(out.reply)!;
  t.match(reply.cos, { flags: 0, dscp1: 34, dscp2: 0, rp: 0 });
  t.equal(out.requestedDscp, 34, 'the reply is to be marked AF41');
  t.equal(out.reply[ANNOTATION.SENDER_PACKET_OFFSET], 0, 'annotation not echoed');
});

t.test('reflect: unknown TLVs flagged U, a truncated TLV flagged M', async (t) => {
  const unknown = request(56, (b) => b.set([0, 200, 0, 8], 44));
  const out = reflect({ request: unknown, receiveNs: 0n, seq: 0, errorEstimate: 1 });
  if (typeof out === 'string') throw new Error(out);
  t.equal(out.reply[44], TLV_FLAG.UNRECOGNIZED);
  const truncated = request(50, (b) => b.set([0, 4, 0, 40], 44));
  const bad = reflect({ request: truncated, receiveNs: 0n, seq: 0, errorEstimate: 1 });
  if (typeof bad === 'string') throw new Error(bad);
  t.equal(bad.malformedTlv, true);
  t.equal(bad.reply[44]! & TLV_FLAG.MALFORMED, TLV_FLAG.MALFORMED);
  t.same(parseTlvs(request(80)).tlvs, [], 'zero padding is not a TLV');
});

t.test('stateful sessions count per session, expire when idle, and are bounded without evicting an active one', async (t) => {
  const table = new SessionTable(2, 1000);
  t.same([table.nextSeq('a', 0), table.nextSeq('a', 10), table.nextSeq('b', 10), table.nextSeq('a', 20)], [0, 1, 0, 2]);
  t.equal(table.nextSeq('c', 30), undefined, 'full of active sessions: the newcomer is refused');
  t.same([table.nextSeq('a', 40), table.nextSeq('b', 40)], [3, 1], 'the active sessions kept their counters');
  t.equal(table.nextSeq('a', 5000), 0, 'idle session restarts');
  t.equal(table.nextSeq('c', 5000), 0, 'an expired session (b) makes room');
  t.equal(table.size, 2, 'capped');
  t.equal(table.nextSeq('b', 5001), undefined, 'b expired and the table is full of active ones again');
});

t.test('source networks: the /24 of IPv4 (also mapped), the /64 of IPv6', async (t) => {
  t.equal(sourceNetwork('198.18.7.9'), '198.18.7.0/24');
  t.equal(sourceNetwork('::ffff:198.18.7.9'), '198.18.7.0/24');
  t.equal(sourceNetwork('2001:db8:0:12::1'), '2001:db8:0:12::/64');
  t.equal(sourceNetwork('2001:db8::1'), '2001:db8:0:0::/64');
  t.equal(sourceNetwork('::1'), '0:0:0:0::/64');
});

t.test('rate limiter: a burst of one second, then the steady rate', async (t) => {
  const limiter = new RateLimiter(10, 100);
  let allowed = 0;
  for (let i = 0; i < 50; i++) if (limiter.allow('p', 0)) allowed++;
  t.equal(allowed, 10);
  t.notOk(limiter.allow('p', 50));
  t.ok(limiter.allow('p', 100), 'refilled after 100 ms at 10/s');
  t.ok(limiter.allow('other', 100), 'per peer');
  const small = new RateLimiter(10, 2);
  t.equal(small.check('x', 0), 'allowed');
  t.equal(small.check('y', 0), 'allowed');
  t.equal(small.check('z', 500), 'table_full', 'no bucket is dropped while in use: a flooder gets no fresh one');
  t.equal(small.check('z', 1500), 'allowed', 'a bucket idle for a second is full anyway, so it may go');
});

t.test('a TWAMP-Light sender packet (RFC 5357 App. I: 14-octet header, arbitrary padding) is reflected', async (t) => {
  // A TWAMP-Light sender pads with whatever it likes (twampy pads with random octets).
  const request = Buffer.alloc(64);
  request.writeUInt32BE(9, 0);
  request.writeUInt32BE(0xe8000000, 4); // timestamp seconds
  request.writeUInt16BE(0x0001, 12); // error estimate
  for (let i = 14; i < 64; i++) request[i] = (i * 37) & 0xff;
  const out = reflect({ request, receiveNs: 1_000n, seq: 9, errorEstimate: 0x0001 });
  if (typeof out === 'string') throw new Error(out);
  t.equal(out.reply.length, 64);
  const reply = decodeReflectorPacket(out.reply)!;
  t.match(reply, { seq: 9, senderSeq: 9, senderErrorEstimate: 1 });
  t.same([...out.reply.subarray(28, 36)], [...request.subarray(4, 12)], 'sender timestamp at the RFC 5357 offset');
});
