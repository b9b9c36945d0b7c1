import t, { type Test } from 'tap';
import { burstRatio, G107_DEFAULTS, mosOf, rate } from '../../src/monitor/calls/e-model.js';
import { CODEC_BY_PAYLOAD_TYPE } from '../../src/monitor/calls/codecs.js';

// The E-model against published values:
// - ITU-T G.107 §7.7: with every parameter at its default, R = 93.2;
// - ITU-T G.107 Annex B, Table B.1: MOS_CQE 4.34, 4.03, 3.60, 3.10, 2.58 at R = 90, 80, 70, 60, 50;
// - the delay impairment as R. G. Cole and J. H. Rosenbluth fitted it to the E-model with default
//   values ("Voice over IP performance monitoring", ACM SIGCOMM CCR 31(2), 2001, eq. 4):
//   Id = 0.024 d + 0.11 (d − 177.3) H(d − 177.3), for one-way delays d up to 300 ms;
// - ITU-T G.113 Appendix I: G.729A has Ie = 11, so without loss R = 93.2 − 11 = 82.2.
// Each comparison is made in MOS, within 0.1 (the done-when of the call-quality work).

const within = (t: Test, actual: number, expected: number, tolerance: number, what: string) =>
  t.ok(Math.abs(actual - expected) <= tolerance, `${what}: ${actual.toFixed(3)} vs ${expected} (±${tolerance})`);

t.test('G.107 §7.7: the default values give R = 93.2', async (t) => {
  const r = rate();
  within(t, r.R, 93.2, 0.05, 'R');
  within(t, r.MOS, mosOf(93.2), 0.01, 'MOS');
  t.equal(G107_DEFAULTS.Ta, 0);
});

t.test('G.107 Table B.1: R to MOS', async (t) => {
  for (const [R, MOS] of [
    [90, 4.34],
    [80, 4.03],
    [70, 3.6],
    [60, 3.1],
    [50, 2.58],
  ] as const)
    within(t, mosOf(R), MOS, 0.01, `MOS at R = ${R}`);
  t.equal(mosOf(-5), 1, 'below 0: MOS 1');
  t.equal(mosOf(120), 4.5, 'above 100: MOS 4.5');
});

t.test("delay: the E-model agrees with Cole and Rosenbluth's published fit within 0.1 MOS", async (t) => {
  const base = rate().R;
  for (const d of [25, 50, 100, 150, 177, 200, 250, 300]) {
    const fit = 0.024 * d + (d > 177.3 ? 0.11 * (d - 177.3) : 0);
    const ours = rate({ Ta: d, T: d, Tr: 2 * d });
    within(t, ours.MOS, mosOf(base - fit), 0.1, `MOS at ${d} ms one way`);
  }
  t.ok(rate({ Ta: 400, T: 400, Tr: 800 }).R < rate({ Ta: 300, T: 300, Tr: 600 }).R, 'more delay, lower R');
});

t.test('G.113 codecs: G.729A without loss is R = 82.2; loss lowers R by eq. 7-29', async (t) => {
  const g729 = CODEC_BY_PAYLOAD_TYPE[18]!;
  within(t, rate({ Ie: g729.Ie, Bpl: g729.Bpl }).R, 82.2, 0.05, 'G.729A R');
  const g711 = CODEC_BY_PAYLOAD_TYPE[0]!;
  const lossy = rate({ Ie: g711.Ie, Bpl: g711.Bpl, Ppl: 2 });
  within(t, lossy.IeEff, (95 * 2) / (2 + 25.1), 1e-9, 'Ie,eff of G.711 with PLC at 2 % random loss');
  const bursty = rate({ Ie: g711.Ie, Bpl: g711.Bpl, Ppl: 2, BurstR: 3 });
  t.ok(bursty.R < lossy.R, `bursty loss rates lower (${bursty.R.toFixed(1)} < ${lossy.R.toFixed(1)})`);
});

t.test('burst ratio from counted loss runs', async (t) => {
  t.equal(burstRatio(1000, 0, 0), 1, 'no loss: random');
  // 1000 received, 20 lost in 20 single gaps: p = 0.02, q = 1 → 1 / 1.02 < 1 → held at 1
  t.equal(burstRatio(1000, 20, 20), 1, 'isolated losses are random loss');
  // 20 lost in 2 runs of 10: p = 0.002, q = 0.1 → BurstR = 1 / 0.102 ≈ 9.8
  within(t, burstRatio(1000, 20, 2), 1 / 0.102, 1e-9, 'two runs of ten');
});
