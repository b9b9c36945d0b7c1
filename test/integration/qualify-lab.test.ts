import t, { type Test } from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ADDRESSES, Lab, labUnavailableReason } from '../lab/index.js';
import { cliIn, startResponder } from '../lab/cli-in-lab.js';
import { validateReport } from '../../src/report/qualification-report.js';
import { TCP_SHARE_OF_HTB_RATE } from '../../src/lab/shaping.js';

// `usmp-edge qualify` over shaped lab links, with the responder in the hospital namespace.

const unavailable = labUnavailableReason();
const opts = unavailable ? { skip: unavailable } : {};

interface Report {
  verdict: string;
  duration_s: number;
  measurements: { up_mbps: number; down_mbps: number; loaded_rtt_increase_ms: number; dscp: { up: string; down: string } };
  lines: Array<{ metric: string; verdict: string; value: unknown }>;
  remediation: { category: string; hints: string[] };
}

async function qualify(
  t: Test,
  up: number,
  down: number,
  extra: { bufferMs?: number; bleachUp?: boolean },
): Promise<{ report: Report; code: number; seconds: number }> {
  const lab = await Lab.create({
    up: { rateMbit: up, ...(extra.bufferMs ? { bufferMs: extra.bufferMs } : {}), ...(extra.bleachUp ? { dscp: { kind: 'bleach' as const } } : {}) },
    down: { rateMbit: down, ...(extra.bufferMs ? { bufferMs: extra.bufferMs } : {}) },
  });
  t.teardown(() => lab.destroy());
  await startResponder(lab);
  const out = t.testdir();
  const run = await cliIn(lab, 'appliance', [
    'qualify',
    '--target',
    ADDRESSES.hospital,
    '--iperf-pool',
    '2',
    '--plan',
    'quick',
    '--out',
    out,
    '--json',
    '--lang',
    'en',
  ]);
  t.equal(run.stderr.includes('USMP_E_'), false, 'no error code printed');
  const report = JSON.parse(run.stdout) as Report;
  t.same(JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')), report, 'report.json is what --json printed');
  t.same(validateReport(report), [], 'report.json validates against its JSON Schema');
  t.ok(run.seconds <= 90, `quick plan wall time ${run.seconds.toFixed(1)} s ≤ 90 s`);
  for (const [direction, rate] of [
    ['up', up],
    ['down', down],
  ] as const) {
    const measured = report.measurements[`${direction}_mbps`];
    const expected = rate * TCP_SHARE_OF_HTB_RATE;
    const error = measured / expected - 1;
    t.ok(Math.abs(error) <= 0.02, `${direction} ${measured} Mbit/s vs ${expected.toFixed(2)} achievable (${(error * 100).toFixed(2)} %)`);
  }
  return { report, code: run.code, seconds: run.seconds };
}

const line = (r: Report, metric: string) => r.lines.find((l) => l.metric === metric);

t.test('8/40 Mbit/s, bloated buffer, DSCP bleached upstream: rates, latency under load and DSCP are called out', opts, async (t) => {
  const { report, code } = await qualify(t, 8, 40, { bufferMs: 250, bleachUp: true });
  t.equal(code, 1, 'a FAIL exits 1');
  t.equal(report.verdict, 'fail');
  t.ok(report.measurements.loaded_rtt_increase_ms > 30, `loaded RTT increase ${report.measurements.loaded_rtt_increase_ms} ms`);
  t.equal(line(report, 'loaded_rtt_increase_ms')?.verdict, 'fail', 'fails on the latency-under-load line');
  t.match(report.remediation.hints.join('\n'), /bufferbloat/);
  t.equal(line(report, 'up_mbps')?.verdict, 'pass');
  t.equal(line(report, 'rtt_ms')?.verdict, 'pass', 'fine when idle');
  t.equal(report.measurements.dscp.up, 'bleached', 'bleaching detected upstream');
  t.equal(report.measurements.dscp.down, 'preserved', 'and only upstream');
  t.equal(line(report, 'dscp_up')?.verdict, 'fail');
});

t.test('20/20 Mbit/s: rates, and DSCP preserved both ways (no false positive)', opts, async (t) => {
  const { report } = await qualify(t, 20, 20, {});
  t.same(report.measurements.dscp, { up: 'preserved', down: 'preserved' });
  t.equal(line(report, 'dscp_up')?.verdict, 'pass');
});

t.test('100/100 Mbit/s with a short queue: the link passes, exit 0', opts, async (t) => {
  const { report, code } = await qualify(t, 100, 100, { bufferMs: 20 });
  t.equal(line(report, 'loaded_rtt_increase_ms')?.verdict, 'pass', `increase ${report.measurements.loaded_rtt_increase_ms} ms`);
  t.ok(['pass', 'pass*'].includes(report.verdict), `verdict ${report.verdict}`);
  t.equal(code, 0);
});

t.test('the full plan: Y.1564 ramp, RFC 6349 metrics, both directions at once', opts, async (t) => {
  const lab = await Lab.create({ up: { rateMbit: 20 }, down: { rateMbit: 20 } });
  t.teardown(() => lab.destroy());
  await startResponder(lab);
  const out = t.testdir();
  const run = await cliIn(
    lab,
    'appliance',
    ['qualify', '--target', ADDRESSES.hospital, '--iperf-pool', '2', '--plan', 'full', '--out', out, '--json'],
    400_000,
  );
  const report = JSON.parse(run.stdout) as Report & {
    plan: string;
    details: {
      ramp: Array<{ offered_mbps: number; received_mbps: number; loss_pct: number }>;
      rfc6349: Array<{ tcp_efficiency_pct: number }>;
      load: { bidir?: { throughput: { up?: { mbps: number }; down?: { mbps: number } } } };
    };
  };
  t.equal(report.plan, 'full');
  t.same(validateReport(report), []);
  t.equal(report.details.ramp.length, 8, '4 steps each way');
  for (const step of report.details.ramp)
    t.ok(Math.abs(step.received_mbps / step.offered_mbps - 1) < 0.01 && step.loss_pct === 0, `UDP ${step.offered_mbps} Mbit/s delivered below the shaped rate`);
  t.equal(line(report, 'y1564_ramp_loss_pct')?.verdict, 'pass');
  t.equal(report.details.rfc6349.length, 2);
  for (const r of report.details.rfc6349) t.ok(r.tcp_efficiency_pct > 90 && r.tcp_efficiency_pct <= 100, `TCP efficiency ${r.tcp_efficiency_pct} %`);
  const both = report.details.load.bidir?.throughput;
  t.ok((both?.up?.mbps ?? 0) > 5 && (both?.down?.mbps ?? 0) > 5, 'both directions carried traffic at once');
  t.ok(run.seconds < 240, `full plan ${run.seconds.toFixed(0)} s`);
});
