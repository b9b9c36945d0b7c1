import t from 'tap';
import { CallLedger } from '../../src/monitor/calls/call-ledger.js';
import { networkGrade, rateAudio } from '../../src/monitor/calls/call-quality.js';
import { CallTracker, networkOf, type CallRecord } from '../../src/monitor/calls/call-tracker.js';
import { parseRtcpCompound, type RtcpPacketInfo } from '../../src/monitor/rtp/rtcp-packet.js';
import type { RtpPacketInfo } from '../../src/monitor/rtp/rtp-packet.js';
import { looksLikeRtcp } from '../../src/monitor/rtp/rtp-packet.js';
import { findProfile, loadProfiles } from '../../src/qualify/profiles.js';
import { HourlySummary } from '../../src/telemetry/hourly-summary.js';

// Calls made of made-up packets whose figures are known: grouping by the two ends, calls and
// attempts, the idle end, quality and grades, the far end's RTCP view; RTCP report blocks parsed
// from compounds built here after RFC 3550 §6.4, and refused when malformed.

const STATION = '198.18.1.10';
const FAR = '198.19.1.10';
const T0 = Date.parse('2026-12-01T10:00:00Z');

/** A stream of `count` packets every `intervalMs`, skipping the sequence numbers in `lose`. */
function stream(o: {
  src: string;
  dst: string;
  ssrc: number;
  pt: number;
  count: number;
  intervalMs: number;
  samples: number;
  startMs?: number;
  seq?: number;
  lose?: Set<number>;
  dscp?: number;
}): RtpPacketInfo[] {
  const packets: RtpPacketInfo[] = [];
  const seq0 = o.seq ?? 65_500; // wraps within the stream
  for (let i = 0; i < o.count; i++) {
    if (o.lose?.has(i)) continue;
    packets.push({
      timeMs: (o.startMs ?? T0) + i * o.intervalMs,
      src: o.src,
      dst: o.dst,
      srcPort: 40_000,
      dstPort: 5004,
      dscp: o.dscp ?? 46,
      ipv6: false,
      payloadType: o.pt,
      marker: i === 0,
      seq: (seq0 + i) & 0xffff,
      timestamp: (i * o.samples) >>> 0,
      ssrc: o.ssrc,
      rtpLength: 172,
    });
  }
  return packets;
}

function tracker(o: { minCallMs?: number; rttMs?: number } = {}): CallTracker {
  return new CallTracker({
    minCallMs: o.minCallMs ?? 60_000,
    idleMs: 10_000,
    isStation: (a) => a.startsWith('198.18.'),
    clockRates: { 96: 90000 },
    rttMs: () => o.rttMs,
  });
}

function feed(tr: CallTracker, ...streams: RtpPacketInfo[][]): void {
  for (const p of streams.flat().sort((a, b) => a.timeMs - b.timeMs)) tr.addRtp(p);
}

t.test('streams of both directions, audio and video, between the same two ends make one call', async (t) => {
  const tr = tracker({ rttMs: 40 });
  feed(
    tr,
    stream({ src: STATION, dst: FAR, ssrc: 1, pt: 0, count: 4000, intervalMs: 20, samples: 160 }),
    stream({ src: FAR, dst: STATION, ssrc: 2, pt: 8, count: 4000, intervalMs: 20, samples: 160, lose: new Set([100, 101, 102, 500]) }),
    stream({ src: FAR, dst: STATION, ssrc: 3, pt: 96, count: 2400, intervalMs: 33, samples: 3000, dscp: 34 }),
  );
  t.equal(tr.size, 1, 'one call');
  t.same(tr.inProgress(T0 + 80_000, 5000).length, 1, 'in progress while packets come');
  t.same(tr.endIdle(T0 + 85_000), [], 'not over before the idle time');
  const [call] = tr.endIdle(T0 + 120_000) as [CallRecord];
  t.equal(tr.size, 0);
  t.equal(call.kind, 'call');
  t.equal(call.station, STATION);
  t.equal(call.far_network, '198.19.1.0/24', 'the far end by its network only');
  t.same(call.media, ['audio', 'video']);
  t.equal(call.duration_s, 80, 'first to last packet of the call (the audio, 3999 × 20 ms)');
  const down = call.streams.find((s) => s.ssrc === '0x00000002')!;
  t.equal(down.direction, 'down');
  t.equal(down.lost, 4);
  t.equal(down.max_loss_burst, 3, 'the longest run of missing packets');
  t.equal(down.audio?.codec, 'G.711 A-law (PCMA)');
  t.ok(down.audio!.delay_ms >= 40, `delay from the monitor's RTT: ${down.audio!.delay_ms} ms`);
  t.equal(down.grade, 'good', `MOS ${down.audio!.mos}`);
  const video = call.streams.find((s) => s.media === 'video')!;
  t.same(video.dscp, { AF41: 2400 });
  t.equal(video.audio, undefined, 'no MOS for video');
});

t.test('DSCP seen against the mark the policy gives each stream', async (t) => {
  const tr = new CallTracker({
    minCallMs: 1000,
    idleMs: 10_000,
    isStation: (a) => a.startsWith('198.18.'),
    // a policy giving audio EF and everything else AF41 (the test's own classification)
    expectedDscp: ({ farPort }) => (farPort === 5004 ? 46 : 34),
  });
  const up = stream({ src: STATION, dst: FAR, ssrc: 1, pt: 0, count: 100, intervalMs: 20, samples: 160, dscp: 46 });
  const down = stream({ src: FAR, dst: STATION, ssrc: 2, pt: 0, count: 100, intervalMs: 20, samples: 160, dscp: 0 }).map((p) => ({
    ...p,
    srcPort: 5004,
    dstPort: 40_000,
  }));
  feed(tr, up, down);
  const [call] = tr.endAll();
  t.match(
    call!.streams.find((s) => s.direction === 'up'),
    { dscp_expected: 'EF', dscp_as_expected: true },
    'the station marks its audio EF, as the policy says',
  );
  t.match(
    call!.streams.find((s) => s.direction === 'down'),
    { dscp_expected: 'EF', dscp_as_expected: false, dscp: { CS0: 100 } },
    "the far end's audio arrives bleached",
  );
});

t.test('a short call is an attempt; two far ends are two calls; the station is found either way round', async (t) => {
  const tr = tracker({ minCallMs: 60_000 });
  feed(
    tr,
    stream({ src: FAR, dst: STATION, ssrc: 10, pt: 0, count: 1000, intervalMs: 20, samples: 160 }), // 20 s
    stream({ src: '198.19.2.7', dst: '198.18.1.11', ssrc: 11, pt: 0, count: 3500, intervalMs: 20, samples: 160 }), // 70 s
  );
  const calls = tr.endIdle(T0 + 200_000).sort((a, b) => a.duration_s - b.duration_s);
  t.same(
    calls.map((c) => [c.kind, c.station, c.far_network]),
    [
      ['attempt', STATION, '198.19.1.0/24'],
      ['call', '198.18.1.11', '198.19.2.0/24'],
    ],
  );
  // neither end a station: the first sender is taken as the station
  const other = tracker();
  feed(other, stream({ src: '203.0.113.5', dst: '192.0.2.9', ssrc: 12, pt: 0, count: 10, intervalMs: 20, samples: 160 }));
  t.equal(other.endAll()[0]!.station, '203.0.113.5');
});

t.test('grades: the E-model for named audio codecs, loss and jitter thresholds otherwise', async (t) => {
  const base = {
    ssrc: '0x1',
    src: STATION,
    src_port: 1,
    dst: FAR,
    dst_port: 2,
    expected: 1000,
    sequence_errors: 0,
    max_delta_ms: 20,
    dscp: {},
    first_at: '',
    last_at: '',
    mean_kbps: 80,
    max_jitter_ms: 5,
  };
  const clean = rateAudio({ ...base, payload_type: 0, packets: 1000, lost: 0, lost_pct: 0, loss_runs: 0, max_loss_burst: 0, mean_jitter_ms: 2 }, 20)!;
  t.equal(clean.grade, 'good', `clean G.711: R ${clean.r}, MOS ${clean.mos}`);
  const lossy = rateAudio({ ...base, payload_type: 18, packets: 900, lost: 100, lost_pct: 10, loss_runs: 10, max_loss_burst: 20, mean_jitter_ms: 30 }, 300)!;
  t.equal(lossy.grade, 'poor', `G.729A with 10 % loss in bursts and 300 ms RTT: R ${lossy.r}`);
  t.equal(
    rateAudio({ ...base, payload_type: 111, packets: 1, lost: 0, lost_pct: 0, loss_runs: 0, max_loss_burst: 0 }, 20),
    undefined,
    'a dynamic payload type names no codec',
  );
  t.equal(networkGrade(0.5, 10), 'good');
  t.equal(networkGrade(2, 10), 'fair', '2 % loss');
  t.equal(networkGrade(0, 35), 'fair', '35 ms jitter');
  t.equal(networkGrade(3, 0), 'poor', '3 % loss');
  t.equal(networkGrade(0, 60), 'poor', '60 ms jitter');
});

/** An RTCP SR (with `blocks` report blocks) followed by an SDES, as RFC 3550 §6.4.1 and §6.5 lay them out. */
function senderReport(reporter: number, blocks: Array<{ source: number; fraction: number; cumulative: number; jitter: number }>): Buffer {
  const sr = Buffer.alloc(28 + 24 * blocks.length);
  sr[0] = 0x80 | blocks.length;
  sr[1] = 200;
  sr.writeUInt16BE(sr.length / 4 - 1, 2);
  sr.writeUInt32BE(reporter, 4);
  blocks.forEach((b, i) => {
    const at = 28 + 24 * i;
    sr.writeUInt32BE(b.source, at);
    sr.writeUInt32BE(((b.fraction << 24) | (b.cumulative & 0xffffff)) >>> 0, at + 4);
    sr.writeUInt32BE(70_000, at + 8);
    sr.writeUInt32BE(b.jitter, at + 12);
  });
  const sdes = Buffer.from([0x81, 202, 0, 2, 0, 0, 0, reporter & 0xff, 0, 0, 0, 0]);
  return Buffer.concat([sr, sdes]);
}

t.test('RTCP report blocks: parsed from a compound, refused when malformed', async (t) => {
  const compound = senderReport(0xaaaa, [
    { source: 1, fraction: 64, cumulative: 40, jitter: 160 },
    { source: 5, fraction: 0, cumulative: 0xffffff, jitter: 0 },
  ]);
  t.ok(looksLikeRtcp(compound));
  const blocks = parseRtcpCompound(compound)!;
  t.same(
    blocks.map((b) => [b.reporter, b.source, b.fractionLost, b.cumulativeLost, b.jitter]),
    [
      [0xaaaa, 1, 0.25, 40, 160],
      [0xaaaa, 5, 0, -1, 0],
    ],
    'fraction /256, signed 24-bit cumulative',
  );
  t.equal(parseRtcpCompound(compound.subarray(0, compound.length - 3)), undefined, 'truncated');
  const badVersion = Buffer.from(compound);
  badVersion[0] = 0x40 | 2;
  t.equal(parseRtcpCompound(badVersion), undefined, 'not version 2');
  t.equal(parseRtcpCompound(compound.subarray(compound.length - 12)), undefined, 'an SDES first');
  const tooMany = Buffer.from(compound);
  tooMany[0] = 0x80 | 9;
  t.equal(parseRtcpCompound(tooMany), undefined, 'more blocks than the length holds');
  t.equal(parseRtcpCompound(Buffer.alloc(0)), undefined, 'empty');
});

t.test("the far end's RTCP view is kept beside ours", async (t) => {
  const tr = tracker();
  feed(tr, stream({ src: STATION, dst: FAR, ssrc: 1, pt: 0, count: 500, intervalMs: 20, samples: 160 }));
  const report: RtcpPacketInfo = {
    timeMs: T0 + 5000,
    src: FAR,
    dst: STATION,
    srcPort: 5005,
    dstPort: 40_001,
    blocks: parseRtcpCompound(senderReport(0xbbbb, [{ source: 1, fraction: 5, cumulative: 12, jitter: 80 }]))!,
  };
  tr.addRtcp(report);
  const [call] = tr.endAll();
  t.same(call!.streams[0]!.far_end, { cumulative_lost: 12, fraction_lost_pct: 1.95, jitter_ms: 10 }, 'jitter 80 at 8 kHz is 10 ms');
  tr.addRtcp(report);
  t.equal(tr.size, 0, 'a report alone opens no call');
});

t.test("RTCP reports on a flood of other sources are set aside; the call's own are kept", async (t) => {
  const tr = tracker();
  feed(tr, stream({ src: STATION, dst: FAR, ssrc: 1, pt: 0, count: 50, intervalMs: 20, samples: 160 }));
  for (let source = 1000; source < 11_000; source += 5) {
    const blocks = parseRtcpCompound(
      senderReport(
        0xcccc,
        Array.from({ length: 5 }, (_, i) => ({ source: source + i, fraction: 0, cumulative: 0, jitter: 0 })),
      ),
    )!;
    tr.addRtcp({ timeMs: T0 + 1000, src: FAR, dst: STATION, srcPort: 5005, dstPort: 40_001, blocks });
  }
  tr.addRtcp({
    timeMs: T0 + 2000,
    src: FAR,
    dst: STATION,
    srcPort: 5005,
    dstPort: 40_001,
    blocks: parseRtcpCompound(senderReport(0xbbbb, [{ source: 1, fraction: 0, cumulative: 3, jitter: 8 }]))!,
  });
  const [call] = tr.endAll();
  t.same(
    call!.streams[0]!.far_end,
    { cumulative_lost: 3, fraction_lost_pct: 0, jitter_ms: 1 },
    "the report on the call's own stream is kept, the 10 000 others set aside",
  );
  t.equal(call!.streams.length, 1);
});

t.test("networks, the day's ledger and the hour's counts", async (t) => {
  t.equal(networkOf('2001:db8:12:34::5'), '2001:db8:12::/48');
  t.equal(networkOf('2001:db8::1'), '2001:db8:0::/48');
  const ledger = new CallLedger();
  const summary = new HourlySummary(T0, findProfile(loadProfiles(), 'teleconsultation-hd'), true);
  const at = new Date(T0 + 60_000).toISOString();
  for (const call of [
    { kind: 'call', duration_s: 600, grade: 'good' },
    { kind: 'call', duration_s: 300, grade: 'poor' },
    { kind: 'attempt', duration_s: 20, grade: 'good' },
  ] as const) {
    ledger.add({ ...call, ended_at: at });
    summary.addCall(call);
  }
  t.match(ledger.today(T0 + 120_000), { calls: 2, attempts: 1, minutes: 15, by_grade: { good: 1, fair: 0, poor: 1 } });
  t.equal(ledger.today(T0 + 3 * 86_400_000).calls, 0, 'another day starts at zero');
  t.same(summary.body().calls, { calls: 2, attempts: 1, minutes: 15, good: 1, fair: 0, poor: 1 });
  t.equal(
    new HourlySummary(T0, findProfile(loadProfiles(), 'teleconsultation-hd')).body().calls,
    undefined,
    'an appliance without capture says nothing of calls (not zero)',
  );
});
