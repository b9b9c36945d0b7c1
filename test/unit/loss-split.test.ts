import t from 'tap';
import { summariseLatency } from '../../src/measure/stamp/metrics.js';
import type { StampRecord, StampSessionResult } from '../../src/measure/stamp/sender.js';

// The forward/backward split of STAMP loss from a stateful reflector's count (RFC 8762 §4.3),
// on made-up sessions: the whole session and a window past the warm-up, as qualify summarises
// the loaded periods. A window once gave a negative "unattributed" (its first sequence number
// is not 0), which the report schema refuses.

/** A session of `count` requests: `forwardLost` never reached the reflector, `backLost` came back lost. */
function session(count: number, forwardLost: Set<number>, backLost: Set<number>): StampSessionResult {
  let reflectorSeq = 0;
  const records: StampRecord[] = [];
  for (let seq = 0; seq < count; seq++) {
    const record: StampRecord = { seq, sentNs: BigInt(seq) * 20_000_000n, duplicates: 0, late: false };
    if (!forwardLost.has(seq)) {
      const reflected = reflectorSeq++;
      if (!backLost.has(seq)) Object.assign(record, { reflectorSeq: reflected, receivedNs: record.sentNs + 5_000_000n, rttNs: 5_000_000n });
    }
    records.push(record);
  }
  return { records, sent: count } as unknown as StampSessionResult;
}

t.test('whole session: forward and backward losses told apart', async (t) => {
  const s = summariseLatency(session(500, new Set([10, 11, 300]), new Set([50, 420])));
  t.same(s.loss_split, { forward: 3, backward: 2, unattributed: 0 });
});

t.test('a window past the warm-up: only its own losses, never a negative count', async (t) => {
  // losses before the window (seq 5 forward, seq 20 back) must not be counted in it
  const s = summariseLatency(session(500, new Set([5, 160, 161]), new Set([20, 250])), 100);
  t.equal(s.sent, 400);
  t.same(s.loss_split, { forward: 2, backward: 1, unattributed: 0 });
});

t.test("losses at the window's edges could be either way: unattributed", async (t) => {
  const s = summariseLatency(session(300, new Set([100]), new Set([299, 298, 150])), 100);
  t.same(s.loss_split, { forward: 0, backward: 1, unattributed: 3 }, 'the first request of the window and the last two');
});

t.test('a reflector count that went backwards gives no split rather than a false one', async (t) => {
  const broken = session(200, new Set([50]), new Set());
  for (const r of broken.records) if (r.reflectorSeq !== undefined && r.seq > 120) r.reflectorSeq -= 100; // its session was reset
  t.equal(summariseLatency(broken).loss_split, undefined);
});
