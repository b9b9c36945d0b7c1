import t from 'tap';
import { JitterEstimator } from '../../src/monitor/rtp/jitter-estimator.js';
import { MAX_DROPOUT, SequenceTracker } from '../../src/monitor/rtp/sequence-tracker.js';
import { RtpStreams } from '../../src/monitor/rtp/rtp-streams.js';
import type { RtpPacketInfo } from '../../src/monitor/rtp/rtp-packet.js';

// RFC 3550 A.1 and A.8 on made-up sequences whose right answer is known by hand.

function track(...seqs: number[]): SequenceTracker {
  const s = new SequenceTracker(seqs[0]!);
  for (const seq of seqs.slice(1)) s.add(seq);
  return s;
}

t.test('sequence numbers: in order, across the 65 535 wrap, with a gap', async (t) => {
  const s = track(65_533, 65_534, 65_535, 0, 1, 2);
  t.same([s.received, s.expected, s.lost, s.extendedMax, s.sequenceErrors], [6, 6, 0, 65_538, 0], 'the wrap is one more cycle, not a loss');
  t.ok(s.valid, 'valid after two in sequence (probation)');
  const gap = track(65_534, 65_535, 3, 4);
  t.same([gap.expected, gap.lost, gap.lossRuns, gap.maxLossRun], [7, 3, 1, 3], '0, 1, 2 missing across the wrap: one run of three');
});

t.test('duplicates and reordering', async (t) => {
  const dup = track(10, 11, 11, 12);
  t.same([dup.received, dup.expected, dup.lost, dup.sequenceErrors], [4, 3, -1, 1], 'a duplicate: lost −1, as RFC 3550 A.3 allows');
  const late = track(10, 11, 13, 12, 14);
  t.same([late.received, late.expected, late.lost], [5, 5, 0], 'a late packet fills its gap');
  t.same([late.lossRuns, late.maxLossRun, late.sequenceErrors], [1, 1, 2], 'the gap and the late packet are both sequence errors');
  const wrapLate = track(65_534, 65_535, 1, 0, 2);
  t.same([wrapLate.expected, wrapLate.lost, wrapLate.extendedMax], [5, 0, 65_538], 'a late packet just after the wrap does not add a cycle');
});

t.test('a jump of MAX_DROPOUT or more: a stray packet is set aside, two in sequence are a restart', async (t) => {
  const stray = track(100, 101, 102, 102 + MAX_DROPOUT + 500, 103);
  t.same([stray.expected, stray.restarts], [4, 0], 'one far packet alone does not move the highest sequence number');
  const restart = track(100, 101, 102, 40_000, 40_001, 40_002);
  t.same([restart.restarts, restart.expected, restart.lost], [1, 6, 0], 'the sender restarted at 40 000: nothing lost, 3 + 3 expected');
  const toZero = track(5000, 5001, 0, 1);
  t.same([toZero.restarts, toZero.expected, toZero.lost], [1, 4, 0], 'a restart at 0');
});

t.test('probation: valid only after MIN_SEQUENTIAL packets in sequence', async (t) => {
  t.notOk(track(7).valid, 'one packet');
  t.notOk(track(7, 9).valid, 'not in sequence');
  t.ok(track(7, 9, 10).valid, 'then two in sequence');
});

t.test('jitter: constant transit gives none; a late packet gives |D|/16; the timestamp wraps at 2^32', async (t) => {
  const steady = new JitterEstimator(0, 2 ** 32 - 320);
  for (let i = 1; i <= 5; i++) t.equal(steady.add(20 * i, (2 ** 32 - 320 + 160 * i) >>> 0, 8000).jitterMs, 0, `packet ${i}: on time across the wrap`);
  const late = new JitterEstimator(0, 0);
  const step = late.add(28, 160, 8000); // due at 20 ms, came at 28
  t.equal(step.jitterMs, 8 / 16);
  t.equal(step.deltaMs, 28);
  const back = late.add(35, 80, 8000); // a timestamp behind the last in order: judged, not in order
  t.equal(back.inTimeOrder, false);
  t.equal(late.add(40, 320, 8000).deltaMs, 12, 'measured from the last packet in timestamp order (28 ms), not the late one');
  t.equal(new JitterEstimator(0, 0).add(20, 160, undefined).jitterMs, undefined, 'no clock rate, no jitter');
});

t.test('a new SSRC on the same addresses is a new stream', async (t) => {
  const streams = new RtpStreams();
  const packet = (ssrc: number, seq: number, timeMs: number): RtpPacketInfo => ({
    timeMs,
    src: '198.19.1.10',
    dst: '198.18.1.10',
    srcPort: 5004,
    dstPort: 5004,
    dscp: 46,
    ipv6: false,
    payloadType: 0,
    marker: false,
    seq,
    timestamp: seq * 160,
    ssrc,
    rtpLength: 172,
  });
  for (let i = 0; i < 10; i++) streams.add(packet(1, 100 + i, 20 * i));
  for (let i = 0; i < 5; i++) streams.add(packet(2, 7 + i, 200 + 20 * i));
  t.same(
    streams.summaries().map((s) => [s.ssrc, s.packets, s.lost]),
    [
      ['0x00000001', 10, 0],
      ['0x00000002', 5, 0],
    ],
  );
});
