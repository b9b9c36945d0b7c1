import t from 'tap';
import { createHmac } from 'node:crypto';
import { authenticateRequest, baseAuthentic, stampHmac, type StampCredential } from '../../src/measure/stamp/authentication.js';
import { readNtpTimestamp } from '../../src/measure/stamp/clock.js';
import { ANNOTATION, decodeReflectorPacket, encodeSenderPacket, parseTlvs, REFLECTOR_LAYOUT, TLV_FLAG } from '../../src/measure/stamp/packets.js';
import { reflect, sealReply } from '../../src/measure/stamp/reflect.js';

// STAMP authenticated mode, byte for byte against RFC 8762 §4.2.2 / §4.3.2 (layouts), §4.4
// (HMAC-SHA-256 truncated to 16 octets over the octets before the HMAC) and RFC 8972 §4.8
// (HMAC TLV over the Sequence Number and the TLVs before it). The HMACs are recomputed here
// with node:crypto directly, not with the code under test.

const credential: StampCredential = { ssid: 0x1234, key: Buffer.alloc(32, 0xab) };
const keyring = { keyFor: (ssid: number) => (ssid === credential.ssid ? credential.key : undefined) };
const hmac16 = (key: Buffer, ...parts: Buffer[]): Buffer => {
  const mac = createHmac('sha256', key);
  for (const p of parts) mac.update(p);
  return mac.digest().subarray(0, 16);
};

t.test('HMAC-SHA-256 truncated to 128 bits: RFC 4231 §4.2 test case 1', async (t) => {
  t.equal(stampHmac(Buffer.alloc(20, 0x0b), Buffer.from('Hi There')).toString('hex'), 'b0344c61d8db38535ca8afceaf0bf12b');
});

t.test('authenticated sender packet: RFC 8762 §4.2.2 layout, HMAC over octets 0–95', async (t) => {
  const p = encodeSenderPacket({ seq: 7, timestampNs: 1_700_000_000_500_000_000n, errorEstimate: 0x8001, ssid: 0 }, 44, credential);
  t.equal(p.length, 112, 'grows to the 112-octet authenticated base');
  t.equal(p.readUInt32BE(0), 7);
  t.ok(
    p.subarray(4, 16).every((b) => b === 0),
    'MBZ 4–15',
  );
  t.equal(readNtpTimestamp(p, 16), 1_700_000_000_500_000_000n, 'timestamp at 16');
  t.equal(p.readUInt16BE(24), 0x8001, 'error estimate at 24');
  t.equal(p.readUInt16BE(26), 0x1234, "SSID at 26 is the key's [RFC 8972 §3]");
  t.ok(
    p.subarray(28, 96).every((b) => b === 0),
    'MBZ 28–95',
  );
  t.same(p.subarray(96), hmac16(credential.key, p.subarray(0, 96)), 'HMAC at 96');
});

t.test('the reflector answers in the authenticated layout (RFC 8762 §4.3.2), signed over T3 as well', async (t) => {
  const request = encodeSenderPacket({ seq: 42, timestampNs: 1_000_000_000_000n, errorEstimate: 1, ssid: 0 }, 112, credential);
  const auth = authenticateRequest(request, 'required', keyring);
  if (auth.kind !== 'authenticated') throw new Error(auth.kind);
  const out = reflect({ request, receiveNs: 1_000_000_500_000n, seq: 5, errorEstimate: 0x8002, credential: auth.credential });
  if (typeof out === 'string') throw new Error(out);
  sealReply(out, 1_000_000_600_000n);
  const r = out.reply;
  t.equal(r.length, 112, 'no amplification');
  t.equal(r.readUInt32BE(0), 5);
  t.equal(readNtpTimestamp(r, 16), 1_000_000_600_000n, 'T3 at 16');
  t.equal(r.readUInt16BE(24), 0x8002);
  t.equal(r.readUInt16BE(26), 0x1234, 'SSID at 26');
  t.equal(readNtpTimestamp(r, 32), 1_000_000_500_000n, 'T2 at 32');
  t.equal(r.readUInt32BE(48), 42, 'sender sequence number at 48');
  t.same(r.subarray(64, 72), request.subarray(16, 24), 'sender timestamp at 64');
  t.equal(r.readUInt16BE(72), 1, 'sender error estimate at 72');
  for (const [from, to] of [
    [4, 16],
    [28, 32],
    [40, 48],
    [52, 64],
    [74, 80],
    [81, 96],
  ] as const)
    t.ok(
      r.subarray(from, to).every((b) => b === 0),
      `MBZ ${from}–${to - 1}`,
    );
  t.same(r.subarray(96), hmac16(credential.key, r.subarray(0, 96)), 'HMAC over the reply with T3 in it');
  t.match(decodeReflectorPacket(r, REFLECTOR_LAYOUT.authenticated), { seq: 5, senderSeq: 42, ssid: 0x1234, receiveTimestampNs: 1_000_000_500_000n });
});

t.test('what the reflector takes in each mode', async (t) => {
  const signed = encodeSenderPacket({ seq: 1, timestampNs: 5n, errorEstimate: 1, ssid: 0 }, 112, credential);
  const wrongKey = encodeSenderPacket({ seq: 1, timestampNs: 5n, errorEstimate: 1, ssid: 0 }, 112, { ssid: credential.ssid, key: Buffer.alloc(32, 1) });
  const tampered = Buffer.from(signed);
  tampered[3] = tampered[3]! ^ 1;
  const unsigned = encodeSenderPacket({ seq: 1, timestampNs: 5n, errorEstimate: 1, ssid: 9 }, 44);
  const unsignedPadded = encodeSenderPacket({ seq: 1, timestampNs: 5n, errorEstimate: 1, ssid: 9 }, 200);
  const unknownSsid = encodeSenderPacket({ seq: 1, timestampNs: 5n, errorEstimate: 1, ssid: 0 }, 112, { ssid: 77, key: Buffer.alloc(32, 2) });
  const kinds = (mode: 'open' | 'both' | 'required') =>
    [signed, wrongKey, tampered, unsigned, unsignedPadded, unknownSsid].map((p) => {
      const a = authenticateRequest(p, mode, keyring);
      return a.kind === 'refused' ? a.reason : a.kind;
    });
  t.same(kinds('required'), ['authenticated', 'bad_hmac', 'bad_hmac', 'unauthenticated', 'unauthenticated', 'unauthenticated']);
  t.same(kinds('both'), ['authenticated', 'bad_hmac', 'bad_hmac', 'unauthenticated', 'unauthenticated', 'unauthenticated']);
  t.same(authenticateRequest(unsigned, 'required', keyring), { kind: 'refused', reason: 'unauthenticated' }, 'required: refused');
  t.same(authenticateRequest(unsigned, 'both', keyring), { kind: 'unauthenticated' }, 'both: answered unauthenticated');
  t.same(kinds('open'), Array(6).fill('unauthenticated'), 'open: nobody is authenticated');
});

t.test('our DSCP annotation on arrival does not break the HMAC: the two MBZ octets are checked as zeros', async (t) => {
  const p = encodeSenderPacket({ seq: 1, timestampNs: 5n, errorEstimate: 1, ssid: 0 }, 112, credential);
  p[ANNOTATION.SENDER_PACKET_OFFSET] = ANNOTATION.MARKER;
  p[ANNOTATION.SENDER_PACKET_OFFSET + 1] = 0xb8;
  t.ok(baseAuthentic(p, credential.key));
  p[50] = 1; // any other octet
  t.notOk(baseAuthentic(p, credential.key));
});

t.test('Class of Service in authenticated mode: acted on under a valid HMAC TLV, flagged I otherwise (RFC 8972 §4.8)', async (t) => {
  const request = encodeSenderPacket({ seq: 3, timestampNs: 5n, errorEstimate: 1, ssid: 0, cos: { dscp: 46, ecn: 0 } }, 160, credential);
  const tlvs = parseTlvs(request, 112).tlvs;
  t.same(
    tlvs.map((x) => [x.offset, x.type, x.length]),
    [
      [112, 4, 4],
      [120, 1, 16],
      [140, 8, 16],
    ],
    'CoS, padding, HMAC TLV last',
  );
  t.same(
    request.subarray(144, 160),
    hmac16(credential.key, request.subarray(0, 4), request.subarray(112, 140)),
    'HMAC TLV over the sequence number and the TLVs before it',
  );
  request[ANNOTATION.SENDER_PACKET_OFFSET] = ANNOTATION.MARKER;
  request[ANNOTATION.SENDER_PACKET_OFFSET + 1] = 46 << 2;
  const ok = reflect({ request, receiveNs: 9n, seq: 0, errorEstimate: 1, credential });
  if (typeof ok === 'string') throw new Error(ok);
  t.equal(ok.requestedDscp, 46);
  t.equal(ok.tlvIntegrityFailed, false);
  t.equal(ok.reply[117], 46 << 2, 'DSCP2 (octet 117): as received');
  t.same(
    ok.reply.subarray(144, 160),
    hmac16(credential.key, ok.reply.subarray(0, 4), ok.reply.subarray(112, 140)),
    "the reply's HMAC TLV covers the reply's TLVs",
  );

  const tampered = Buffer.from(request);
  tampered[116] = 0; // DSCP1 changed on the way
  const bad = reflect({ request: tampered, receiveNs: 9n, seq: 0, errorEstimate: 1, credential });
  if (typeof bad === 'string') throw new Error(bad);
  t.equal(bad.tlvIntegrityFailed, true);
  t.equal(bad.requestedDscp, undefined, 'not acted on');
  t.equal(bad.reply[112]! & TLV_FLAG.INTEGRITY, TLV_FLAG.INTEGRITY, 'I flag');
});
