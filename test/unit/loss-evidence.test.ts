import t from 'tap';
import { LossEvidence, LOSS_THRESHOLD } from '../../src/monitor/loss-evidence.js';
import { medianInterval, meanInterval } from '../../src/measure/statistics.js';
import { bernoulliCount as lostOf, seededRandom as generator } from '../fixtures/seeded-random.js';

// The loss test on made-up probe streams from a seeded generator, and the intervals the RTT and
// delay-variation rules judge.

t.test('0.3 % loss (a third of a 1 % limit), 12 probes/s in 5 s windows for 24 h: no alert', async (t) => {
  const random = generator(3);
  const test = new LossEvidence(1);
  let alerts = 0;
  let state: 'ok' | 'degraded' = 'ok';
  for (let w = 0; w < 17_280; w++) {
    const v = test.observe(lostOf(test.suspicious ? 400 : 60, 0.003, random), test.suspicious ? 400 : 60, state);
    if (v.judged !== state) {
      if (v.judged === 'degraded') alerts++;
      state = v.judged === 'down' ? 'degraded' : v.judged;
    }
  }
  t.equal(alerts, 0);
});

t.test('2 % loss: DEGRADED within a minute with confirmation; its estimate is the loss the evidence rests on', async (t) => {
  const random = generator(7);
  const delays: number[] = [];
  for (let run = 0; run < 200; run++) {
    const test = new LossEvidence(1);
    let seconds = 0;
    for (;;) {
      const n = test.suspicious ? 400 : 60;
      seconds += 5;
      const v = test.observe(lostOf(n, 0.02, random), n, 'ok');
      if (v.judged === 'degraded') {
        t.ok(v.estimatePct > 1 && v.estimatePct < 5, `estimate ${v.estimatePct.toFixed(2)} %`, { diagnostic: false });
        break;
      }
      if (seconds > 600) break;
    }
    delays.push(seconds);
  }
  delays.sort((a, b) => a - b);
  t.ok(delays[Math.floor(0.95 * delays.length)]! <= 60, `95th percentile of the delay ${delays[Math.floor(0.95 * delays.length)]} s (median ${delays[100]} s)`);
});

t.test('leaving: the mirror test, started when the state changed; no probe at all is no evidence', async (t) => {
  const test = new LossEvidence(1);
  t.match(test.observe(0, 0, 'degraded'), { judged: 'degraded', evidence: 0 });
  // each answered probe weighs ln(0.995/0.98) = 0.0152 towards OK
  const perProbe = Math.log(0.995 / 0.98);
  const needed = Math.ceil(LOSS_THRESHOLD / perProbe);
  t.equal(test.observe(0, needed - 1, 'degraded').judged, 'degraded', `${needed - 1} clean probes are not enough`);
  t.equal(test.observe(0, 1, 'degraded').judged, 'ok', `${needed} are`);
  const one = test.observe(1, 60, 'ok').evidence;
  t.ok(Math.abs(one - (Math.log(4) + 59 * Math.log(0.98 / 0.995))) < 1e-9, `back to the forward test, from 0: one loss in 60 leaves ${one.toFixed(3)}`);
  t.notOk(test.suspicious, 'not yet worth confirming');
  test.observe(1, 60, 'ok');
  t.ok(test.suspicious, 'a second loss is');
  t.equal(new LossEvidence(0).observe(1, 60, 'ok').judged, 'ok', 'a 0 % limit still gives finite evidence');
});

t.test('interval of a median from order statistics, of a mean from its standard error', async (t) => {
  t.equal(medianInterval([1, 2, 3]), undefined, 'too few samples');
  const sorted = Array.from({ length: 100 }, (_, i) => i + 1);
  const ci = medianInterval(sorted)!;
  // n = 100, z = 2.576: ranks 50 ∓ 12.9 → the 37th and 64th values (1-based), a 99 % interval
  t.same(ci, { low: 37, high: 64 });
  t.ok(ci.low < 50.5 && ci.high > 50.5);
  const m = meanInterval([1, 2, 3, 4, 5])!;
  t.ok(Math.abs((m.low + m.high) / 2 - 3) < 1e-9 && m.high - m.low > 0);
  t.equal(meanInterval([1]), undefined);
});
