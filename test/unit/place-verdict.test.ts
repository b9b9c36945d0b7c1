import t from 'tap';
import { judgePlace } from '../../src/station/place-verdict.js';
import { limitingSentence } from '../../src/station/place-wording.js';
import { stationFigures } from '../../src/station/place-submission.js';
import { ByteMeter } from '../../src/station/byte-meter.js';
import { loadProfiles } from '../../src/qualify/profiles.js';
import type { SegmentFigures } from '../../src/station/segment-figures.js';

// A place's verdict from made-up segment figures (teleconsultation-hd: ≥ 4 Mbit/s each way,
// RTT ≤ 100 ms, loss ≤ 1 %, increase under load ≤ 30 ms).

const profile = loadProfiles().get('teleconsultation-hd')!;
const segment = (o: Partial<SegmentFigures> = {}): SegmentFigures => ({
  up_mbps: 19,
  down_mbps: 19,
  rtt_ms: 25,
  loaded_rtt_increase_ms: { up: 5, down: 5 },
  loss_pct: 0,
  ...o,
});

t.test('the narrower segment limits when everything passes, with the other figure beside it', async (t) => {
  const v = judgePlace(segment({ up_mbps: 9.4, down_mbps: 50, rtt_ms: 2 }), segment(), profile);
  t.equal(v.verdict, 'pass');
  t.same(v.narrower, { up: 'internal', down: 'hospital_link' });
  t.same(v.limiting, { segment: 'internal', direction: 'up', mbps: 9.4, other_mbps: 19 }, 'up is where the narrower leaves least');
  t.equal(v.end_to_end.up_mbps, 9.4);
  t.equal(v.end_to_end.down_mbps, 19);
  t.equal(v.end_to_end.rtt_ms, 27, 'idle RTTs add');
  const place = {
    name: 'x',
    measured_at: '',
    verdict: v.verdict,
    internal: {} as never,
    hospital_link: null,
    end_to_end: v.end_to_end,
    narrower: v.narrower,
    limiting: v.limiting,
    failures: v.failures,
  };
  t.equal(limitingSentence(place, 'en'), 'Limited by the internal network at this place: 9.4 Mbit/s up; the link to the hospital gives 19.0.');
  t.equal(limitingSentence(place, 'fr'), "Limité par le réseau interne à cet endroit : 9,4 Mbit/s en montée ; le lien vers l'hôpital donne 19,0.");
});

t.test('a failure names its segment: throughput where it is narrower, bloat where the queue builds', async (t) => {
  const thin = judgePlace(segment({ down_mbps: 3 }), segment(), profile);
  t.equal(thin.verdict, 'fail');
  t.same(thin.failures, [{ metric: 'down_mbps', value: 3, limit: 4, segment: 'internal', direction: 'down' }]);
  t.same(thin.limiting.segment, 'internal');
  // the link is the narrower one down and bloated: its queue is the one a download fills
  const bloated = judgePlace(
    segment({ down_mbps: 300, up_mbps: 300, loaded_rtt_increase_ms: { up: 1, down: 2 } }),
    segment({ loaded_rtt_increase_ms: { up: 4, down: 180 } }),
    profile,
  );
  t.equal(bloated.verdict, 'fail');
  t.same(bloated.failures, [{ metric: 'loaded_rtt_increase_ms', value: 180, limit: 30, segment: 'hospital_link', direction: 'down' }]);
  t.equal(bloated.limiting.segment, 'hospital_link');
  // a bloated link behind a narrower access point: the flow's queue is at the access point
  const behind = judgePlace(
    segment({ down_mbps: 9, loaded_rtt_increase_ms: { up: 3, down: 12 } }),
    segment({ loaded_rtt_increase_ms: { up: 4, down: 180 } }),
    profile,
  );
  t.equal(behind.end_to_end.loaded_rtt_increase_ms, 12, "the access point's queue, not the link's");
});

t.test('losses combine; the lossier segment is named', async (t) => {
  const v = judgePlace(segment({ loss_pct: 1 }), segment({ loss_pct: 0.5 }), profile);
  t.equal(v.end_to_end.loss_pct, 1.495, '1 − (1 − 0.01)(1 − 0.005)');
  t.same(
    v.failures.map((f) => [f.metric, f.segment]),
    [['loss_pct', 'internal']],
  );
});

t.test("the station's figures from the page's document", async (t) => {
  const f = stationFigures(
    {
      place: 'p',
      idle_rtt_ms: [2, 4, 3],
      down: { bytes: 9_500_000, seconds: 8 },
      loaded_rtt_ms: { down: [40, 50, 60], up: [] },
      probes: { sent: 100, lost: 2 },
    },
    { mbps: 9.3, bytes: 9_300_000, seconds: 8 },
    4,
    '198.18.1.10',
  );
  t.equal(f.down_mbps, 9.5, 'octets × 8 over the seconds timed');
  t.equal(f.up_mbps, 9.3, 'upload as the appliance timed it');
  t.equal(f.rtt_ms, 3, 'idle median');
  t.same(f.loaded_rtt_increase_ms, { down: 47, up: null }, 'loaded median − idle median; none when not probed');
  t.equal(f.loss_pct, 2);
});

t.test('the byte meter leaves out the first seconds and counts whole bins only', async (t) => {
  let now = 0;
  const m = new ByteMeter(() => now);
  m.add(1000);
  t.equal(m.totalBytes, 0, 'nothing counted before start');
  m.start();
  for (now = 0; now < 10_000; now += 10) m.add(125); // 100 kbit/s... × 100 per second = 100 000 bit/s
  m.stop();
  const r = m.mbps(2000)!;
  t.equal(r.seconds, 8, '2 s left out of 10');
  t.equal(r.mbps, 0.1);
  t.equal(new ByteMeter(() => 0).mbps(0), null, 'no phase, no rate');
});
