import t, { type Test } from 'tap';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createSocket } from 'node:dgram';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import mqtt from 'mqtt';
import { valueWithin } from '../fixtures/bounded.js';
import { ApplianceContainer } from './appliance-container.js';
import { missingToolsReason } from '../../src/lab/availability.js';
import { ADDRESSES, Lab } from '../lab/index.js';
import { cliIn, startResponder } from '../lab/cli-in-lab.js';
import { labPolicy, writeQosConfig } from '../qos/fixtures.js';
import { VERIFY_LIMITS, type VerifyResult } from '../../src/qos/verify.js';
import type { HealthReport } from '../../src/daemon/health.js';

// The image builds from Debian's packages and the npm registry alone,
// boots (systemd-nspawn), and its daemon reports ready; the installer's clean install (the
// image build runs it in the image's root), an upgrade with a non-empty outbox, and uninstalls
// (keeping data, then all of it) run end to end in that throwaway root.

const run = promisify(execFile);
const REPO = fileURLToPath(new URL('../../', import.meta.url));
const why =
  process.getuid?.() !== 0
    ? 'needs root (mmdebstrap, systemd-nspawn, network namespaces)'
    : missingToolsReason(['mmdebstrap', 'systemd-nspawn', 'ssh-keygen', 'nsenter']);
const sha256 = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex');

function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  return valueWithin(what, timeoutMs, probe);
}

t.test('appliance image: builds, boots, serves; upgrade keeps the outbox; uninstall leaves no trace', why ? { skip: why } : {}, async (t) => {
  const work = mkdtempSync(join(tmpdir(), 'usmp-image-'));
  t.teardown(() => rmSync(work, { recursive: true, force: true }));
  const tag = String(process.pid % 10_000);
  const addresses = ApplianceContainer.addressesFor(process.pid);
  const net = addresses.network;

  // --- build: a release, then the image (the installer runs inside it: the clean install) ---
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'test-admin', '-f', join(work, 'admin')]);
  const release = join(work, 'release');
  await run('sh', [join(REPO, 'scripts/build-release.sh'), release], { cwd: REPO, timeout: 600_000 });
  const root = join(work, 'root');
  const built = Date.now();
  const { stderr: buildLog } = await run(
    'sh',
    [
      join(REPO, 'images/build-image.sh'),
      '--out',
      root,
      '--ssh-key',
      join(work, 'admin.pub'),
      '--release',
      release,
      '--address',
      `${addresses.appliance}/30`,
      '--gateway',
      addresses.host,
      '--admin-nets',
      net,
      '--device-nets',
      net,
      '--monitoring-nets',
      net,
    ],
    { cwd: REPO, timeout: 900_000, maxBuffer: 64 << 20 },
  );
  t.match(buildLog, /install: installing 0\.1\.0\+/, 'the installer ran in the image root');
  t.match(buildLog, /install: configuration skeleton written/);
  t.comment(`image built in ${((Date.now() - built) / 1000).toFixed(1)} s`);
  t.notOk(
    readFileSync(join(root, 'etc/shadow'), 'utf8')
      .split('\n')
      .some((line) => /^[^:]+:[^!*:]/.test(line)),
    'no account has a password',
  );
  t.equal(readFileSync(join(root, 'root/.ssh/authorized_keys'), 'utf8'), readFileSync(join(work, 'admin.pub'), 'utf8'), 'root logs in with the given key only');

  // A pristine copy for the inline modes, booted at the end between a lab's unit and its router.
  const pristine = join(work, 'root-pristine');
  await run('cp', ['-a', root, pristine]);

  // --- boot ---
  const container = await ApplianceContainer.boot(root, tag, addresses);
  t.teardown(() => container.destroy());
  const healthUrl = `http://${addresses.appliance}:9469/health`;
  const health = async (): Promise<HealthReport> => (await fetch(healthUrl, { signal: AbortSignal.timeout(3000) })).json() as Promise<HealthReport>;
  const booted = Date.now();
  const first = await until('/health answers', () => health(), 120_000).catch((err: Error) => {
    throw new Error(`${err.message}\n--- container console ---\n${container.console}`);
  });
  t.comment(`/health answered ${((Date.now() - booted) / 1000).toFixed(1)} s after nspawn started`);
  t.equal(first.parts.broker_bridge?.status, 'running', 'the broker runs');
  t.equal(
    (await container.exec(['systemctl', 'is-active', 'usmp-edge.service'])).stdout.trim(),
    'active',
    'usmp-edge.service is active: READY=1 reached (Type=notify)',
  );
  const state = await until(
    'boot finishes',
    async () => {
      const s = (await container.exec(['systemctl', 'is-system-running'], { allowFailure: true })).stdout.trim();
      return s === 'starting' ? undefined : s;
    },
    60_000,
  );
  const failed = (await container.exec(['systemctl', '--failed', '--plain', '--no-legend'])).stdout.trim();
  t.equal(state, 'running', `every unit started (${failed || 'none failed'})`);
  const key = join(root, 'var/lib/usmp-edge/keys/report-signing.pem');
  t.match(
    (await container.exec(['stat', '-c', '%U %a', '/var/lib/usmp-edge/keys/report-signing.pem'])).stdout.trim(),
    'usmp-edge 600',
    'the report key was made at first boot, readable by the service only',
  );
  t.match((await container.exec(['sshd', '-T'])).stdout, /passwordauthentication no/, 'sshd: keys only');
  t.ok((await container.exec(['ls', '/etc/ssh/'])).stdout.includes('ssh_host_ed25519_key'), 'SSH host keys made at first boot');

  // --- firewall: only the flow matrix ---
  const connect = (port: number): Promise<string> =>
    run('timeout', ['3', 'bash', '-c', `</dev/tcp/${addresses.appliance}/${port}`]).then(
      () => 'open',
      (e: { code?: number }) => (e.code === 124 ? 'dropped' : 'refused'),
    );
  t.equal(await connect(22), 'open', 'SSH from the admin network');
  t.equal(await connect(8883), 'open', 'MQTT over TLS from the device network');
  t.equal(await connect(1883), 'dropped', 'no plaintext MQTT: the default configuration has none, nor the firewall');
  t.equal(await connect(8080), 'dropped', 'any other port is dropped, not even refused');
  t.match((await container.exec(['nft', 'list', 'table', 'inet', 'usmp_firewall'])).stdout, /policy drop/);

  // --- capture through the socket unit (the helper holds CAP_NET_RAW, the daemon nothing) ---
  const config = join(root, 'etc/usmp-edge/config.json');
  const withConfig = (edit: (c: Record<string, Record<string, unknown>>) => void): void => {
    const c = JSON.parse(readFileSync(config, 'utf8')) as Record<string, Record<string, unknown>>;
    edit(c);
    writeFileSync(config, `${JSON.stringify(c, null, 2)}\n`);
  };
  withConfig((c) => {
    c.capture = { ...c.capture, interface: 'host0', filter: 'udp port 5004' };
    // nobody answers there: the messages wait in the outbox
    c.bridge = { upstream: { url: `mqtt://${addresses.host}:1883`, username: 'usmp-bridge', password_file: '/etc/usmp-edge/hospital.pass' } };
  });
  await container.exec(['sh', '-c', 'umask 027 && printf hospital-secret > /etc/usmp-edge/hospital.pass && chgrp usmp-edge /etc/usmp-edge/hospital.pass']);
  await container.exec(['systemctl', 'reload', 'usmp-edge.service']);
  const refused = (await container.exec(['journalctl', '-u', 'usmp-edge.service', '-g', 'reload_refused', '--no-pager', '-q'], { allowFailure: true })).stdout;
  t.equal(refused, '', 'the new configuration is taken');
  await until('capture running', async () => ((await health()).parts.capture?.status === 'running' ? true : undefined), 30_000);
  const sender = createSocket('udp4');
  const rtp = Buffer.alloc(172, 0xd5);
  for (let i = 0; i < 50; i++) {
    rtp.writeUInt16BE(0x8000, 0);
    rtp.writeUInt16BE(i, 2);
    rtp.writeUInt32BE(i * 160, 4);
    rtp.writeUInt32BE(0x5eed, 8);
    await new Promise((r) => sender.send(rtp, 5004, addresses.appliance, r));
    await new Promise((r) => setTimeout(r, 5));
  }
  sender.close();
  const calls = await until('the call is seen', async () => ((await health()).calls?.[0]?.packets === 50 ? (await health()).calls : undefined), 10_000);
  t.match(calls, [{ ssrc: '0x00005eed', packets: 50, lost: 0 }], 'RTP seen through usmp-edge-capture@.service');
  t.match((await container.exec(['systemctl', 'list-units', '--plain', '--no-legend', 'usmp-edge-capture@*'])).stdout, /usmp-edge-capture@.*running/);

  // --- a device publishes while the hospital is away: a non-empty outbox ---
  const device = JSON.parse((await container.exec(['usmp-edge', 'device', 'add', 'ecg-1', '--json'])).stdout) as {
    username: string;
    password: string;
    publish: string;
  };
  // The device trusts the certificate made at first boot, pinned by the fingerprint `device tls-cert` prints.
  const tlsCert = JSON.parse((await container.exec(['usmp-edge', 'device', 'tls-cert', '--if-missing', '--json'])).stdout) as {
    cert_file: string;
    fingerprint_sha256: string;
    created: boolean;
  };
  t.equal(tlsCert.created, false, 'the broker certificate was made at first boot');
  t.match(
    (await container.exec(['stat', '-c', '%U %a', '/var/lib/usmp-edge/broker-tls/key.pem'])).stdout.trim(),
    'usmp-edge 600',
    'its key readable by the service only',
  );
  const pinned = readFileSync(join(root, tlsCert.cert_file.slice(1)));
  const client = await mqtt.connectAsync(`mqtts://${addresses.appliance}:8883`, {
    username: device.username,
    password: device.password,
    clientId: device.username,
    reconnectPeriod: 0,
    ca: pinned,
    checkServerIdentity: (_host: string, cert: { fingerprint256: string }) =>
      cert.fingerprint256 === tlsCert.fingerprint_sha256 ? undefined : new Error(`fingerprint ${cert.fingerprint256}`),
  } as mqtt.IClientOptions);
  for (let i = 0; i < 200; i++) await client.publishAsync(device.publish.replace('#', 'ecg'), Buffer.from(`ecg sample ${i}`), { qos: 1 });
  await client.endAsync();
  const before = await health();
  t.equal(before.bridge?.outbox_depth, 200, '200 acknowledged messages wait in the outbox');
  const kept = { key: sha256(key), config: sha256(config), devices: sha256(join(root, 'var/lib/usmp-edge/devices.json')) };

  // --- upgrade to a new release ---
  const next = join(root, 'root/usmp-edge-next');
  cpSync(release, next, { recursive: true });
  const nextId = `${readFileSync(join(release, 'RELEASE'), 'utf8').trim()}.next`;
  writeFileSync(join(next, 'RELEASE'), `${nextId}\n`);
  const upgrade = await container.exec(['sh', '/root/usmp-edge-next/scripts/install.sh', 'upgrade']);
  t.match(upgrade.stderr, /upgrade done; configuration, keys and outboxes untouched/);
  t.equal((await container.exec(['readlink', '/opt/usmp-edge/current'])).stdout.trim(), `releases/${nextId}`, 'current points at the new release');
  t.equal((await container.exec(['ls', '/opt/usmp-edge/releases'])).stdout.trim().split('\n').length, 2, 'the previous release is kept for a roll-back');
  const after = await until('/health after the upgrade', async () => ((await health()).uptime_s < before.uptime_s ? health() : undefined), 60_000);
  t.equal(after.bridge?.outbox_depth, 200, 'the outbox survived the upgrade: 200 messages still waiting');
  t.same(
    { key: sha256(key), config: sha256(config), devices: sha256(join(root, 'var/lib/usmp-edge/devices.json')) },
    kept,
    'key, configuration and devices unchanged',
  );
  t.equal((await container.exec(['systemctl', 'is-active', 'usmp-edge.service'])).stdout.trim(), 'active');

  // --- uninstall keeping the data, reinstall: the same key and outbox come back ---
  await container.exec(['sh', '/root/usmp-edge-next/scripts/install.sh', 'uninstall', '--keep-data']);
  t.equal((await container.exec(['getent', 'passwd', 'usmp-edge'], { allowFailure: true })).code, 2, 'the user is gone');
  t.equal((await container.exec(['test', '-e', '/opt/usmp-edge'], { allowFailure: true })).code, 1, '/opt/usmp-edge is gone');
  t.equal(sha256(key), kept.key, 'the kept key is still there');
  await container.exec(['sh', '/root/usmp-edge-next/scripts/install.sh', 'install']);
  const back = await until('/health after the reinstall', async () => ((await health()).bridge?.outbox_depth === 200 ? health() : undefined), 60_000);
  t.equal(back.bridge?.outbox_depth, 200, 'the reinstalled appliance has its outbox back');
  t.equal(sha256(key), kept.key, 'and its key');

  // --- uninstall: nothing left ---
  await container.exec(['sh', '/root/usmp-edge-next/scripts/install.sh', 'uninstall']);
  const traces = (
    await container.exec(['find', '/', '-xdev', '(', '-path', '/root/usmp-edge-next', '-prune', ')', '-o', '-name', '*usmp*', '-print'])
  ).stdout.trim();
  t.equal(traces, '', 'no file named after usmp-edge is left (but the upgrade kit the test brought)');
  t.equal((await container.exec(['getent', 'group', 'usmp-edge'], { allowFailure: true })).code, 2, 'no group');
  t.equal(await connect(9469), 'refused', 'nothing listens for /health any more');
  await container.destroy();

  for (const mode of ['inline-bridge', 'inline-router'] as const) {
    await t.test(`booted as ${mode} between the unit's LAN and the site's router: the unit reaches the hospital, the QoS holds`, async (t) => {
      await inlineModeProof(t, pristine, join(work, `root-${mode}`), mode);
    });
  }
});

/**
 * The image, cabled in a lab as `mode` (its network and firewall from images/network-config.sh,
 * as the image build writes them): the station reaches the hospital through it, `qos apply`
 * succeeds inside it, and `qos verify` from the station shows the video class within its
 * targets under best-effort saturation.
 */
async function inlineModeProof(t: Test, pristine: string, root: string, mode: 'inline-bridge' | 'inline-router'): Promise<void> {
  await run('cp', ['-a', pristine, root]);
  const net = `${root}.net`;
  await run('sh', [
    join(REPO, 'images/network-config.sh'),
    '--out',
    net,
    '--mode',
    mode,
    '--lan-if',
    'lan0',
    '--wan-if',
    'wan0',
    '--lan-address',
    `${ADDRESSES.applianceLan}/24`,
    '--address',
    `${ADDRESSES.applianceWan}/24`,
    '--gateway',
    ADDRESSES.wanTowardsAppliance,
    '--admin-nets',
    '198.18.0.0/15',
    '--device-nets',
    '198.18.0.0/15',
    '--monitoring-nets',
    '198.18.0.0/15',
  ]);
  rmSync(join(root, 'etc/systemd/network'), { recursive: true, force: true });
  cpSync(join(net, 'network'), join(root, 'etc/systemd/network'), { recursive: true });
  cpSync(join(net, 'nftables.conf'), join(root, 'etc/nftables.conf'));
  const lab = await Lab.create({
    up: { rateMbit: 20, bufferMs: 50 },
    down: { rateMbit: 20, bufferMs: 50 },
    wireSizedPackets: true,
    applianceMode: mode === 'inline-bridge' ? 'bridge' : 'router',
    applianceAddressing: 'none',
  });
  t.teardown(() => lab.destroy());
  const { credentialsFile } = await startResponder(lab, ['--iperf-pool', '4']);
  // Installed as prison IT would: root:usmp-edge 0640, before the daemon first reads it.
  const credentials = join(root, 'etc/usmp-edge/responder-credentials.json');
  cpSync(credentialsFile, credentials);
  chownSync(credentials, 0, Number(/^usmp-edge:x:(\d+):/m.exec(readFileSync(join(root, 'etc/group'), 'utf8'))![1]));
  chmodSync(credentials, 0o640);
  const configFile = join(root, 'etc/usmp-edge/config.json');
  const c = JSON.parse(readFileSync(configFile, 'utf8')) as Record<string, Record<string, unknown>>;
  c.deployment = { mode };
  c.qualify = { ...c.qualify, target: ADDRESSES.hospital, responder_credentials_file: '/etc/usmp-edge/responder-credentials.json' };
  c.qos = { ...c.qos, ...labPolicy(), state_dir: '/var/lib/usmp-edge/qos' };
  writeFileSync(configFile, `${JSON.stringify(c, null, 2)}\n`);

  const container = ApplianceContainer.bootIn(root, lab.ns('appliance'));
  t.teardown(() => container.destroy());
  await until(
    `the station to reach the hospital through the ${mode} appliance`,
    async () => ((await lab.exec('usmp', ['ping', '-c', '1', '-W', '1', ADDRESSES.hospital], { allowFailure: true })).code === 0 ? true : undefined),
    120_000,
  ).catch((err: Error) => {
    throw new Error(`${err.message}\n--- container console ---\n${container.console}`);
  });
  t.pass(`the unit reaches the hospital through the appliance (${mode})`);
  // It waits for network-online.target (the bridge's ports come up first), then starts.
  const daemon = await until(
    'usmp-edge.service to start or fail',
    async () => {
      const state = (await container.exec(['systemctl', 'is-active', 'usmp-edge.service'], { allowFailure: true })).stdout.trim();
      return state === 'active' || state === 'failed' ? state : undefined;
    },
    120_000,
  );
  const why =
    daemon === 'active'
      ? ''
      : `: ${(await container.exec(['journalctl', '-u', 'usmp-edge.service', '--no-pager', '-n', '30', '-o', 'cat'], { allowFailure: true })).stdout}`;
  t.equal(daemon, 'active', `the appliance's daemon runs in ${mode} mode${why}`);
  const apply = await container.exec(['usmp-edge', 'qos', 'apply'], { allowFailure: true, timeoutMs: 120_000 });
  t.equal(apply.code, 0, `qos apply inside the appliance${apply.code ? `: ${apply.stderr}` : ''}`);
  if (apply.code !== 0) return;
  const station = writeQosConfig(labPolicy());
  t.teardown(() => station.cleanup());
  const verify = await cliIn(lab, 'usmp', ['--config', station.file, 'qos', 'verify', '--policy-elsewhere', '--duration', '10', '--json'], 120_000);
  t.ok([0, 1].includes(verify.code), `qos verify from the station ran (exit ${verify.code})${verify.code > 1 ? `: ${verify.stderr}` : ''}`);
  const r = JSON.parse(verify.stdout) as VerifyResult;
  const v = r.telemedicine;
  t.ok(
    v.up.delivered_pct >= 99 && v.down.delivered_pct >= 99,
    `the video class keeps its committed rate: ${v.up.delivered_pct} % up, ${v.down.delivered_pct} % down`,
  );
  t.ok(v.up.loss_pct < 0.5 && v.down.loss_pct < 0.5, `loss under 0.5 %: up ${v.up.loss_pct} %, down ${v.down.loss_pct} %`);
  // Target 5 ms; the margin is the lab's scheduling noise on this 2-vCPU machine, as in linux-proof.
  t.ok(
    v.rtt_increase_ms <= 2 * VERIFY_LIMITS.rttIncreaseMs,
    `RTT increase +${v.rtt_increase_ms} ms under best-effort saturation (target ${VERIFY_LIMITS.rttIncreaseMs})`,
  );
  const family = mode === 'inline-bridge' ? 'bridge' : 'inet';
  t.match(
    (await container.exec(['nft', 'list', 'tables'])).stdout,
    new RegExp(`table ${family} usmp_qos`),
    `the policy's table in the ${family} family, beside the shipped firewall`,
  );
}
