import t from 'tap';
import { writeFileSync } from 'node:fs';
import { ADDRESSES, labUnavailableReason, Lab } from '../lab/index.js';
import { cliIn, startResponder } from '../lab/cli-in-lab.js';
import { labPolicy, writeQosConfig } from './fixtures.js';
import { VERIFY_LIMITS, type VerifyResult } from '../../src/qos/verify.js';

// deployment.mode inline-bridge: the appliance is a bump in the wire (lan0 and wan0 ports of
// its bridge, no address on the unit's path), the WAN router is the station's gateway. The
// policy is applied in nftables' bridge family and the same htb trees; `qos verify` from the
// station proves it under best-effort saturation, as linux-proof does for inline-router.
// Ground truth besides the verdict: the bridge table's own counters and the video leaf's.

const unavailable = labUnavailableReason();

await t.test('inline-bridge: the policy classifies and protects bridged traffic', unavailable ? { skip: unavailable } : {}, async (t) => {
  const lab = await Lab.create({ up: { rateMbit: 20, bufferMs: 50 }, down: { rateMbit: 20, bufferMs: 50 }, wireSizedPackets: true, applianceMode: 'bridge' });
  const config = writeQosConfig(labPolicy());
  writeFileSync(
    config.file,
    JSON.stringify({ log: { level: 'warn', pretty: 'never' }, deployment: { mode: 'inline-bridge' }, qos: { state_dir: config.stateDir, ...labPolicy() } }),
  );
  t.teardown(async () => {
    await lab.destroy();
    config.cleanup();
  });
  await startResponder(lab, ['--iperf-pool', '4']);
  const ping = await lab.exec('usmp', ['ping', '-c', '1', '-W', '2', ADDRESSES.hospital], { allowFailure: true });
  t.equal(ping.code, 0, 'the station reaches the hospital across the bridge');

  const apply = await cliIn(lab, 'appliance', ['--config', config.file, 'qos', 'apply']);
  t.equal(apply.code, 0, `qos apply${apply.code ? `: ${apply.stderr}` : ''}`);
  if (apply.code !== 0) return;
  const tables = await lab.exec('appliance', ['nft', 'list', 'tables']);
  t.match(tables.stdout, /table bridge usmp_qos/, 'our table is in the bridge family');
  t.notMatch(tables.stdout, /table inet usmp_qos/, 'and only there');
  const plan = await cliIn(lab, 'appliance', ['--config', config.file, 'qos', 'plan']);
  t.match(plan.stdout + plan.stderr, /no change/, 'read back, it is the policy: nothing to change');

  const run = await cliIn(lab, 'usmp', ['--config', config.file, 'qos', 'verify', '--policy-elsewhere', '--duration', '10', '--json'], 120_000);
  t.ok([0, 1].includes(run.code), `verify ran (exit ${run.code})${run.code > 1 ? `: ${run.stderr}` : ''}`);
  const r = JSON.parse(run.stdout) as VerifyResult;
  const p = r.telemedicine;
  t.ok(
    p.up.delivered_pct >= 99 && p.down.delivered_pct >= 99,
    `the video class keeps its committed rate: ${p.up.delivered_pct} % up, ${p.down.delivered_pct} % down`,
  );
  t.ok(p.up.loss_pct < 0.5 && p.down.loss_pct < 0.5, `loss under 0.5 %: up ${p.up.loss_pct} %, down ${p.down.loss_pct} %`);
  // Target 5 ms; the margin is the lab's scheduling noise on this 2-vCPU machine, as in linux-proof.
  t.ok(p.rtt_increase_ms <= 2 * VERIFY_LIMITS.rttIncreaseMs, `RTT increase +${p.rtt_increase_ms} ms (target ${VERIFY_LIMITS.rttIncreaseMs})`);
  t.ok(r.best_effort.up_mbps > 10 && r.best_effort.down_mbps > 8, `best effort gets the rest: ${r.best_effort.up_mbps}/${r.best_effort.down_mbps} Mbit/s`);

  const counters = JSON.parse((await lab.exec('appliance', ['nft', '-j', 'list', 'table', 'bridge', 'usmp_qos'])).stdout) as {
    nftables: Array<{ rule?: { comment?: string; expr: Array<{ counter?: { packets: number } }> } }>;
  };
  const packets = (prefix: string): number =>
    counters.nftables
      .filter((i) => i.rule?.comment?.startsWith(prefix))
      .reduce((sum, i) => sum + (i.rule!.expr.find((e) => e.counter)?.counter?.packets ?? 0), 0);
  t.ok(
    packets('usmp-qos:up:video:') > 1000 && packets('usmp-qos:down:video:') > 1000,
    `the bridge family marked the video flow: ${packets('usmp-qos:up:video:')} packets up, ${packets('usmp-qos:down:video:')} down`,
  );
  t.ok(packets('usmp-qos:up:best-effort') > 1000, `and re-marked best effort from the unit: ${packets('usmp-qos:up:best-effort')} packets`);
  const leaf = (await lab.exec('appliance', ['tc', '-s', 'class', 'show', 'dev', 'wan0', 'classid', '7e1e:10'])).stdout;
  t.ok(Number(/Sent \d+ bytes (\d+) pkt/.exec(leaf)?.[1] ?? 0) > 1000, 'the video leaf on the WAN port carried them');
  const rollback = await cliIn(lab, 'appliance', ['--config', config.file, 'qos', 'rollback']);
  t.equal(rollback.code, 0, 'rolled back');
  t.notMatch((await lab.exec('appliance', ['nft', 'list', 'tables'])).stdout, /usmp_qos/, 'nothing of ours left');
});
