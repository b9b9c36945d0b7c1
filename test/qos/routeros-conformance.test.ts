import t from 'tap';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI } from '../lab/cli-in-lab.js';
import { runConformance, type CliResult, type QosHarness } from './conformance.js';
import { labPolicy } from './fixtures.js';
import { makeTestPki } from './simulator/certificate.js';
import { ROUTER_PASSWORD, ROUTER_USER, siteRouter } from './simulator/fixtures.js';

// Backend `routeros` through the same conformance suite, against the RouterOS API SIMULATOR
// over api-ssl (no real router can run here). The roll-back runs on the "router" itself: its
// scheduler runs our script after the confirm timeout.

const pki = makeTestPki();
let cut = false;
const sim = siteRouter({
  tls: { key: pki.key, cert: pki.cert },
  // Like the lab's cut: the path to the hospital drops AF41 once we mark it.
  hospitalReachable: (model) => !(cut && model.menu('/ip/firewall/mangle').some((r) => r['new-dscp'] === '34')),
});
const port = await sim.listen();
const dir = mkdtempSync(join(tmpdir(), 'usmp-ros-'));
const passwordFile = join(dir, 'router.password');
writeFileSync(passwordFile, `${ROUTER_PASSWORD}\n`, { mode: 0o600 });
const configFile = join(dir, 'config.json');
t.teardown(async () => {
  await sim.close();
  pki.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

const routerPolicy = { ...labPolicy(), backend: 'routeros' };
const writeConfig = (qos: Record<string, unknown>): void =>
  writeFileSync(
    configFile,
    JSON.stringify({
      log: { level: 'warn', pretty: 'never' },
      qos: {
        ...qos,
        routeros: {
          host: '127.0.0.1',
          port,
          tls: true,
          ca_file: pki.caFile,
          username: ROUTER_USER,
          password_file: passwordFile,
          wan_interface: 'ether1',
          lan_interface: 'bridge',
          command_timeout_ms: 3000,
        },
      },
    }),
  );
writeConfig(routerPolicy);

const cli = (args: string[]): Promise<CliResult> =>
  new Promise((resolve) => {
    execFile(process.execPath, [CLI, '--config', configFile, ...args], { timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 99) : 0, stdout, stderr });
    });
  });

const world = async (): Promise<string> => JSON.stringify(sim.model.snapshot());
const harness: QosHarness = {
  cli,
  spawnCli(args) {
    const child = spawn(process.execPath, [CLI, '--config', configFile, ...args], { stdio: 'ignore' });
    return { pid: child.pid!, exited: once(child, 'exit') };
  },
  world,
  setPolicy: (overrides) => writeConfig({ ...routerPolicy, ...overrides }),
  async cutMarkedTraffic(on) {
    cut = on;
  },
  slowCheck(on) {
    sim.faults = on ? { stall: (command) => command === '/ping' } : {};
  },
  async changed(before) {
    return (await world()) !== before && sim.model.menu('/queue/tree').some((q) => q['limit-at'] === '6000000');
  },
};

await t.test('backend routeros passes the QoS conformance suite (simulator)', async (t) => {
  await runConformance(t, harness, routerPolicy);
  t.notOk(
    sim.log.flat().some((w) => w.includes(ROUTER_PASSWORD) && !w.startsWith('=password=')),
    'the password travels only in the login word',
  );
});

await t.test('the objects on the router are the documented recipe', async (t) => {
  const mangle = sim.model.menu('/ip/firewall/mangle');
  t.equal(mangle.at(-1)?.comment, 'site: backup route', "our marks are placed before the site's mangle rules");
  const filter = sim.model.menu('/ip/firewall/filter');
  const fasttrack = filter.findIndex((r) => r.action === 'fasttrack-connection');
  const exclusions = filter.map((r, i) => [r, i] as const).filter(([r]) => r.comment?.includes('no-fasttrack'));
  t.ok(exclusions.length > 0 && exclusions.every(([, i]) => i < fasttrack), 'FastTrack exclusions sit before the fasttrack rule');
  const queues = sim.model.menu('/queue/tree');
  t.match(
    queues.find((q) => q.name === 'usmp-qos-up'),
    { parent: 'ether1', 'max-limit': '19000000' },
    'upload tree on the WAN interface at 95 % of the link',
  );
  t.match(
    queues.find((q) => q.name === 'usmp-qos-down-video'),
    { parent: 'usmp-qos-down', 'limit-at': '4000000', priority: '2', 'packet-mark': 'usmp-qos-video' },
  );
  t.ok(
    queues.some((q) => q.name === 'site-guest'),
    "the site's own queue is untouched",
  );
});
