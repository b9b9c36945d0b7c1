import t from 'tap';
import { ThroughputSchedule, withinHours } from '../../src/monitor/throughput-schedule.js';
import type { ThroughputOptions, ThroughputResult } from '../../src/measure/iperf3/client.js';

// The schedule of short throughput tests: off-peak hours only, never two at once,
// none while a consultation is in progress; a probe window overlapping a test is set aside.

t.test('off-peak hours, including a window across midnight', async (t) => {
  const at = (h: number) => new Date(2026, 10, 23, h, 30);
  t.ok(withinHours(at(3), 0, 0), 'from = to: any hour');
  t.ok(withinHours(at(2), 1, 5));
  t.notOk(withinHours(at(5), 1, 5));
  t.ok(withinHours(at(23), 22, 6));
  t.ok(withinHours(at(4), 22, 6));
  t.notOk(withinHours(at(12), 22, 6));
});

t.test('skipped in a call, outside the hours, and while one runs; results per direction', async (t) => {
  let call = true;
  let hour = 3;
  const skipped: string[] = [];
  const results: string[] = [];
  let release!: () => void;
  const runs: string[] = [];
  const loads: string[] = [];
  const fakeRun = async (o: ThroughputOptions): Promise<ThroughputResult> => {
    runs.push(o.direction);
    loads.push(`${o.parallel} ${o.congestionControl}`);
    if (o.direction === 'up') await new Promise<void>((r) => (release = r));
    return {
      [o.direction]: { mbps: o.direction === 'up' ? 19.5 : 18.7, bytes: 0, seconds: 3, series_mbps: [] },
      cpu: { local_pct: 0, remote_pct: 0 },
      direction: o.direction,
      protocol: 'tcp',
      duration_s: 3,
      port: 5201,
      attempts: 1,
    };
  };
  const schedule = new ThroughputSchedule({
    target: '198.19.1.10',
    ports: [5201],
    intervalMs: 20,
    durationS: 3,
    load: { congestionControl: 'cubic', streams: 4 },
    offPeak: { fromHour: 1, toHour: 5 },
    callInProgress: () => call,
    onResult: (d, mbps) => results.push(`${d} ${mbps}`),
    onSkipped: (reason) => skipped.push(reason),
    onError: (err) => t.fail(err.message),
    now: () => new Date(2026, 10, 23, hour, 0),
    run: fakeRun,
  });
  schedule.start(1);
  await new Promise((r) => setTimeout(r, 30));
  t.ok(skipped.includes('a consultation is in progress'));
  call = false;
  hour = 12;
  await new Promise((r) => setTimeout(r, 30));
  t.ok(skipped.includes('outside the off-peak hours'));
  hour = 3;
  await new Promise((r) => setTimeout(r, 30));
  t.same(runs, ['up'], 'a test started');
  t.ok(schedule.overlapsTest(Date.now() - 15_000, Date.now()), 'a window now overlaps the running test');
  await new Promise((r) => setTimeout(r, 50));
  t.ok(skipped.includes('a throughput test is still running'), 'never two at once');
  call = true; // no further test once this one ends
  release();
  await new Promise((r) => setTimeout(r, 10));
  t.same(results.slice(0, 2), ['up 19.5', 'down 18.7']);
  t.same(loads.slice(0, 2), ['4 cubic', '4 cubic'], "each test runs the load model, not the machine's defaults");
  await schedule.stop();
  t.notOk(schedule.overlapsTest(Date.now() + 5000, Date.now() + 20_000), 'no test after the last one');
});
