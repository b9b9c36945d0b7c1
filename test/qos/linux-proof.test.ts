import t from 'tap';
import { labUnavailableReason, Lab } from '../lab/index.js';
import { cliIn, startResponder } from '../lab/cli-in-lab.js';
import { labPolicy, writeQosConfig } from './fixtures.js';
import { VERIFY_LIMITS, type VerifyResult } from '../../src/qos/verify.js';

// The proof: a 20/20 Mbit/s link with a modem-like 50 ms buffer, best
// effort (4 TCP streams each way) saturating both directions, a video-class UDP flow at its
// committed 4 Mbit/s; `qos verify` from the USMP station, without then with the policy.
// benchmarks/qos-proof repeats this five times and records both sides.

const unavailable = labUnavailableReason();

await t.test('the linux policy protects the telemedicine flow', unavailable ? { skip: unavailable } : {}, async (t) => {
  const lab = await Lab.create({ up: { rateMbit: 20, bufferMs: 50 }, down: { rateMbit: 20, bufferMs: 50 }, wireSizedPackets: true });
  const config = writeQosConfig(labPolicy());
  t.teardown(async () => {
    await lab.destroy();
    config.cleanup();
  });
  await startResponder(lab, ['--iperf-pool', '4']);
  const verify = async (): Promise<VerifyResult> => {
    const run = await cliIn(lab, 'usmp', ['--config', config.file, 'qos', 'verify', '--policy-elsewhere', '--duration', '10', '--json'], 120_000);
    t.ok([0, 1].includes(run.code), `verify ran (exit ${run.code})${run.code > 1 ? `: ${run.stderr}` : ''}`);
    return JSON.parse(run.stdout) as VerifyResult;
  };

  const without = await verify();
  const w = without.telemedicine;
  t.ok(w.rtt_increase_ms > 15, `without the policy the video flow waits behind best effort: RTT +${w.rtt_increase_ms} ms`);
  t.ok(w.up.loss_pct + w.down.loss_pct > 0, `and loses packets: up ${w.up.loss_pct} %, down ${w.down.loss_pct} %`);
  t.equal(without.verdict, 'fail');

  const apply = await cliIn(lab, 'appliance', ['--config', config.file, 'qos', 'apply']);
  t.equal(apply.code, 0, `qos apply${apply.code ? `: ${apply.stderr}` : ''}`);
  const withPolicy = await verify();
  const p = withPolicy.telemedicine;
  t.ok(
    p.up.delivered_pct >= 99 && p.down.delivered_pct >= 99,
    `with the policy it keeps its committed rate: ${p.up.delivered_pct} % up, ${p.down.delivered_pct} % down`,
  );
  t.ok(p.up.loss_pct < 0.5 && p.down.loss_pct < 0.5, `loss under 0.5 %: up ${p.up.loss_pct} %, down ${p.down.loss_pct} %`);
  // The product's target is ≤ 5 ms (qos verify's rtt_increase_ms line); on this 2-vCPU VM the
  // lab's own scheduling noise puts single runs at 2.0–5.0 ms and once at 5.03 (CI, session 5),
  // so the test holds a margin and the ratio, and benchmarks/qos-proof records the target over
  // five runs. [Standards: timed assertions only with wide margins]
  t.ok(
    p.rtt_increase_ms <= 2 * VERIFY_LIMITS.rttIncreaseMs,
    `RTT increase ≤ ${2 * VERIFY_LIMITS.rttIncreaseMs} ms: +${p.rtt_increase_ms} ms (target ${VERIFY_LIMITS.rttIncreaseMs}; without: +${w.rtt_increase_ms} ms)`,
  );
  t.ok(p.rtt_increase_ms * 5 <= w.rtt_increase_ms, 'at most a fifth of the increase without the policy');
  t.same(
    withPolicy.lines.filter((l) => l.verdict !== 'pass' && l.metric !== 'rtt_increase_ms'),
    [],
    'every other line of the verdict passes',
  );
  t.ok(
    withPolicy.best_effort.up_mbps > 10 && withPolicy.best_effort.down_mbps > 8,
    `best effort still gets the rest: ${withPolicy.best_effort.up_mbps}/${withPolicy.best_effort.down_mbps} Mbit/s`,
  );
});
