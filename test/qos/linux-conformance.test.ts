import t from 'tap';
import { once } from 'node:events';
import { writeFileSync, readFileSync } from 'node:fs';
import { ADDRESSES, Lab, labUnavailableReason } from '../lab/index.js';
import { CLI, cliIn, startResponder } from '../lab/cli-in-lab.js';
import { runConformance, type QosHarness } from './conformance.js';
import { labPolicy, writeQosConfig } from './fixtures.js';

// Backend `linux` through the conformance suite, in the lab: the CLI runs in the appliance
// namespace (the USMP's gateway), the responder in the hospital's.

const unavailable = labUnavailableReason();
// A VDSL2 link: the size table (PPPoE overhead) and the PTM rate share are part of every cycle.
const basePolicy = labPolicy({ link_layer: { preset: 'vdsl-pppoe' } });
await t.test('backend linux passes the QoS conformance suite', unavailable ? { skip: unavailable } : {}, async (t) => {
  const lab = await Lab.create({ up: { rateMbit: 20 }, down: { rateMbit: 20 } });
  const config = writeQosConfig(basePolicy);
  t.teardown(async () => {
    await killGuard(config.stateDir);
    await lab.destroy();
    config.cleanup();
  });
  await startResponder(lab, ['--iperf-pool', '1']);

  const world = async (): Promise<string> => {
    const parts = [(await lab.exec('appliance', ['nft', '-s', 'list', 'ruleset'])).stdout];
    for (const dev of ['wan0', 'lan0']) {
      for (const what of ['qdisc', 'class', 'filter']) parts.push((await lab.exec('appliance', ['tc', '-d', what, 'show', 'dev', dev])).stdout);
      parts.push((await lab.exec('appliance', ['ethtool', '-k', dev])).stdout);
    }
    return parts.join('\n');
  };

  const harness: QosHarness = {
    cli: (args) => cliIn(lab, 'appliance', ['--config', config.file, ...args], 60_000),
    spawnCli(args) {
      const child = lab.spawn('appliance', [process.execPath, CLI, '--config', config.file, ...args]);
      return { pid: child.pid!, exited: once(child, 'exit') };
    },
    world,
    setPolicy(overrides) {
      const current = JSON.parse(readFileSync(config.file, 'utf8')) as { qos: Record<string, unknown> };
      writeFileSync(config.file, JSON.stringify({ ...current, qos: { ...basePolicy, state_dir: config.stateDir, ...overrides } }));
    },
    async cutMarkedTraffic(on) {
      // The operator's edge drops AF41 (it happens: some WANs police marked traffic).
      const rules = on
        ? 'table ip usmp_test_cut {}\ndelete table ip usmp_test_cut\ntable ip usmp_test_cut {\n  chain f {\n    type filter hook forward priority 0; policy accept;\n    ip dscp af41 drop\n  }\n}\n'
        : 'table ip usmp_test_cut {}\ndelete table ip usmp_test_cut\n';
      await lab.exec('wan', ['nft', '-f', '-'], { input: rules });
    },
    async changed(before) {
      return (await world()) !== before;
    },
  };

  const ping = await lab.exec('appliance', ['ping', '-c', '1', '-W', '2', ADDRESSES.hospital], { allowFailure: true });
  t.equal(ping.code, 0, 'the hospital answers before the suite');
  await runConformance(t, harness, basePolicy);

  await t.test('the size table of the link layer is on both shaped devices', async (t) => {
    for (const dev of ['wan0', 'lan0'])
      t.match((await lab.exec('appliance', ['tc', '-d', 'qdisc', 'show', 'dev', dev])).stdout, /linklayer ethernet overhead 16 /, dev);
  });

  await t.test('a change whose guard died too (a reboot) is undone by the next command', async (t) => {
    const before = await world();
    harness.setPolicy({ classes: [{ ...(basePolicy.classes as object[])[0], rate_mbps: 7 }, (basePolicy.classes as object[])[1]] });
    const child = harness.spawnCli(['qos', 'apply', '--confirm-timeout', '5']);
    const started = Date.now();
    while ((await world()) === before && Date.now() - started < 15_000) await new Promise((r) => setTimeout(r, 10));
    process.kill(child.pid, 'SIGKILL');
    await child.exited;
    await killGuard(config.stateDir);
    await new Promise((r) => setTimeout(r, Math.max(0, started + 6_000 - Date.now())));
    t.not(await world(), before, 'nothing restored it while no guard ran');
    const status = await harness.cli(['qos', 'status', '--json']);
    t.equal(status.code, 0);
    const shown = JSON.parse(status.stdout) as { armed_until: string | null; last_rollback: { by: string; reason: string; ok: boolean } | null };
    t.equal(shown.armed_until, null, 'status reports nothing armed');
    t.match(shown.last_rollback, { by: 'cli', ok: true, reason: /no guard ran/ }, 'and the roll-back it just did');
    t.equal(await world(), before, 'the expired change was rolled back by the command that found it');
    harness.setPolicy(basePolicy);
  });
});

/** A guard left by a failed run would restore into a deleted namespace; end it by its PID. */
async function killGuard(stateDir: string): Promise<void> {
  for (const name of ['armed', 'firing']) {
    try {
      const pid = (JSON.parse(readFileSync(`${stateDir}/${name}.json`, 'utf8')) as { guard_pid?: number }).guard_pid;
      if (pid && readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('rollback-guard')) process.kill(pid, 'SIGKILL');
    } catch {
      // no such file or process
    }
  }
}
