import t from 'tap';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Appliance, CLI, waitUntil } from '../bridge/fixtures.js';
import { holdsWithin } from '../fixtures/bounded.js';
import { HospitalBroker } from '../fixtures/hospital-mosquitto.js';
import type { HealthReport } from '../../src/daemon/health.js';

// The daemon tells the truth: `kill -9` of the capture helper or of
// the hospital broker is reported, recovered from, and /health (and the Nagios check reading
// it) says so throughout; /metrics carries the link, bridge, call and process figures; SIGHUP
// reloads what changed and refuses a bad file while the old configuration keeps running.

const run = promisify(execFile);
const SENDER = fileURLToPath(new URL('../fixtures/rtp-sender.mjs', import.meta.url));

t.test('kill -9 of the capture helper and of the hospital broker: reported, recovered, /health true throughout', async (t) => {
  const hospital = await HospitalBroker.start();
  t.teardown(() => hospital.destroy());
  const appliance = await Appliance.create(hospital, [], { sections: { capture: { interface: 'lo', filter: 'udp port 5004', idle_s: 30 } } });
  t.teardown(() => appliance.destroy());
  await appliance.start();
  const base = `http://127.0.0.1:${appliance.metricsPort}`;
  const health = async (): Promise<HealthReport> => (await fetch(`${base}/health`)).json() as Promise<HealthReport>;
  const check = async (): Promise<{ code: number; stdout: string }> =>
    run(process.execPath, [CLI, 'check', '--url', `${base}/health`]).then(
      (r) => ({ code: 0, stdout: r.stdout }),
      (e: { code: number; stdout: string }) => ({ code: e.code, stdout: e.stdout }),
    );

  let last: HealthReport | undefined;
  t.ok(
    await waitUntilAsync(async () => (last = await health()).status === 'ok', 15_000),
    `healthy once the hospital is connected and the helper ready (${last?.reasons.join('; ')})`,
  );
  t.match(await check(), { code: 0, stdout: /^USMP-EDGE OK - .* \| .*outbox=0;;;0;2000000/ });

  // a call passes: the helper sees it, /health and /metrics show it
  await run(process.execPath, [SENDER, '127.0.0.1', '5004', String(0xabcd), '0', '100', '10', '80']);
  // libpcap hands packets over every 100 ms; the call stays in progress for idle_s (30 s) after its last packet, so a busy machine still sees it below
  await waitUntilAsync(async () => (await health()).calls?.[0]?.packets === 100, 5000);
  const calls = (await health()).calls ?? [];
  t.match(calls, [{ ssrc: '0x0000abcd', packets: 100, lost: 0 }], 'the call is analysed live');
  const metrics = await (await fetch(`${base}/metrics`)).text();
  for (const name of [
    'usmp_edge_outbox_messages 0',
    'usmp_edge_hospital_connected 1',
    'usmp_edge_part_up{part="capture"} 1',
    'usmp_edge_rtp_streams_active 1',
    'usmp_edge_process_resident_memory_bytes',
  ])
    t.ok(metrics.includes(name), `/metrics has ${name}`);

  // kill -9 of the capture helper
  const helperPid = (await health()).parts.capture!.pid as number;
  process.kill(helperPid, 'SIGKILL');
  t.ok(await waitUntilAsync(async () => (last = await health()).parts.capture!.status === 'restarting', 5000), 'the dead helper is reported at once');
  t.equal(last!.status, 'degraded');
  t.match(last!.parts.capture!.error, /capture helper ended \(SIGKILL\)/);
  t.match(await check(), { code: 1, stdout: /^USMP-EDGE WARNING - capture restarting/ });
  t.ok(await waitUntilAsync(async () => (last = await health()).parts.capture!.status === 'running', 10_000), 'a new helper runs');
  t.not(last!.parts.capture!.pid, helperPid);
  t.equal(last!.parts.capture!.restarts, 1);
  t.ok(appliance.events('capture.helper_died').length === 1, 'logged once');

  // kill -9 of the hospital broker
  await hospital.kill();
  t.ok(await waitUntilAsync(async () => (last = await health()).bridge?.hospital_connected === false, 10_000), 'the lost hospital is reported');
  t.equal(last!.status, 'degraded');
  t.match(await check(), { code: 1, stdout: /hospital broker not connected/ });
  await hospital.resume();
  t.ok(await waitUntilAsync(async () => (last = await health()).status === 'ok', 15_000), `back to ok once it is back (${last?.reasons.join('; ')})`);
  t.equal((await check()).code, 0);

  // SIGHUP: a bad file is refused and the running configuration kept; a good one restarts what changed
  const good = readFileSync(appliance.configFile, 'utf8');
  writeFileSync(appliance.configFile, good.replace('"capture": {', '"capture": { "interfaze": "x",'));
  process.kill(appliance.pid!, 'SIGHUP');
  t.ok(await waitUntil(() => appliance.events('daemon.reload_refused').length === 1, 5000), 'the bad file is refused');
  t.match(JSON.stringify(appliance.events('daemon.reload_refused')[0]), /interfaze/, 'the log says what is wrong');
  t.equal((await health()).status, 'ok', 'and everything keeps running');
  writeFileSync(appliance.configFile, good.replace('"filter": "udp port 5004"', '"filter": "udp port 5006"'));
  process.kill(appliance.pid!, 'SIGHUP');
  t.ok(await waitUntil(() => appliance.events('daemon.reloaded').length === 1, 5000));
  t.same(appliance.events('daemon.reloaded')[0]!.restarted, ['capture'], 'only the capture part restarted');
  t.ok(await waitUntil(() => appliance.events('capture.ready').at(-1)!.filter === 'udp port 5006', 5000), 'the new helper captures with the new filter');
});

t.test('a part that cannot start is reported by name and the others run', async (t) => {
  const hospital = await HospitalBroker.start();
  t.teardown(() => hospital.destroy());
  const appliance = await Appliance.create(hospital, [], {
    sections: { capture: { interface: 'no-such-if0', filter: 'udp' }, monitor: { target: '127.0.0.1', stamp_port: 9, window_s: 1, probes_per_s: 5 } },
  });
  t.teardown(() => appliance.destroy());
  await appliance.start();
  const health = async (): Promise<HealthReport> => (await fetch(`http://127.0.0.1:${appliance.metricsPort}/health`)).json() as Promise<HealthReport>;
  let last: HealthReport | undefined;
  t.ok(
    await waitUntilAsync(async () => (last = await health()).bridge?.hospital_connected === true && last.link?.state === 'down', 15_000),
    'broker and bridge run; the unanswered monitor says the link is down',
  );
  t.match(last!.parts.capture, { status: /restarting|starting/ });
  t.match(last!.parts.capture!.error ?? '', /no-such-if0|capture helper ended/);
  t.match(last!.parts.broker_bridge, { status: 'running' });
  const check = await run(process.execPath, [CLI, 'check', '--url', `http://127.0.0.1:${appliance.metricsPort}/health`]).catch(
    (e: { code: number; stdout: string }) => e,
  );
  t.equal((check as { code: number }).code, 2, 'CRITICAL: the link is down');
  const unreachable = await run(process.execPath, [CLI, 'check', '--url', 'http://127.0.0.1:1/health']).catch((e: { code: number; stdout: string }) => e);
  t.match(unreachable, { code: 3, stdout: /^USMP-EDGE UNKNOWN/ });
});

function waitUntilAsync(predicate: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  return holdsWithin(timeoutMs, predicate, { everyMs: 100 });
}
