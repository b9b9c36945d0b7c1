import { chmodSync } from 'node:fs';
import t, { type Test } from 'tap';
import { join } from 'node:path';
import { runCli } from '../../src/cli/program.js';
import type { Output } from '../../src/cli/output.js';
import { labPolicy } from './fixtures.js';

// `usmp-edge qos …` refusals that need no device: each names its code and what to do.

function recorder(): Output & { said: string[] } {
  const said: string[] = [];
  return { said, say: (l) => said.push(l), json: () => undefined };
}

async function qos(t: Test, config: unknown, args: string[], files: Record<string, string> = {}): Promise<{ code: number; text: string }> {
  const dir = t.testdir({ 'config.json': JSON.stringify(config), ...files });
  for (const name of Object.keys(files)) chmodSync(join(dir, name), 0o600); // secret files
  const out = recorder();
  const code = await runCli(['--config', join(dir, 'config.json'), 'qos', ...args], out);
  return { code, text: out.said.join('\n') };
}

t.test('no policy configured', async (t) => {
  const r = await qos(t, {}, ['plan']);
  t.equal(r.code, 2);
  t.match(r.text, /USMP_E_QOS_NO_POLICY: no QoS policy .* — what to do: Define qos\.up_mbps/);
});

t.test('an invalid policy lists its problems and changes nothing', async (t) => {
  const policy = labPolicy({ classes: [{ name: 'Video!', dscp: 'AF41', priority: 9, rate_mbps: 4, match: { remote: ['198.19.1.10/32'] } }] });
  const r = await qos(t, { qos: policy }, ['apply']);
  t.equal(r.code, 2);
  t.match(r.text, /USMP_E_CONFIG_INVALID/);
  t.match(r.text, /- qos\.classes\[0\]\.name: must be lower-case letters/);
  t.match(r.text, /- qos\.classes\[0\]\.priority: must be an integer from 1/);
});

t.test('interface names are checked before anything runs', async (t) => {
  const r = await qos(t, { deployment: { mode: 'inline-router' }, qos: labPolicy({ linux: { wan_interface: 'eth0; reboot', lan_interface: 'lan0' } }) }, [
    'status',
  ]);
  t.equal(r.code, 2);
  t.match(r.text, /USMP_E_CONFIG_INVALID: qos\.linux\.wan_interface "eth0; reboot" is not an interface name/);
});

t.test('the linux backend where nothing crosses the appliance is refused (deployment.mode one-armed, the default)', async (t) => {
  const r = await qos(t, { qos: labPolicy() }, ['plan']);
  t.equal(r.code, 2);
  t.match(r.text, /- qos\.backend: linux shapes the traffic that crosses the appliance, and in deployment\.mode one-armed none does/);
  const routeros = await qos(t, { qos: labPolicy({ backend: 'routeros' }) }, ['plan']);
  t.notMatch(routeros.text, /deployment\.mode/, 'one-armed with the router doing the QoS is the way it works');
});

t.test('routeros without a router address', async (t) => {
  const r = await qos(t, { qos: labPolicy({ backend: 'routeros' }) }, ['plan']);
  t.equal(r.code, 2);
  t.match(r.text, /qos\.routeros\.host is empty/);
});

t.test('a router that is not there', async (t) => {
  const pw = join(t.testdirName, 'pw');
  const r = await qos(
    t,
    {
      qos: labPolicy({ backend: 'routeros', routeros: { host: '127.0.0.1', port: 1, tls: false, username: 'u', password_file: pw, command_timeout_ms: 1000 } }),
    },
    ['plan'],
    { pw: 'x\n' },
  );
  t.equal(r.code, 2);
  t.match(r.text, /USMP_E_ROUTER_CONNECT: cannot open the API session to 127\.0\.0\.1:1/);
});

t.test('apply needs a hospital to confirm against', async (t) => {
  const r = await qos(t, { deployment: { mode: 'inline-router' }, qos: labPolicy({ check_target: '' }) }, ['apply']);
  t.equal(r.code, 2);
  t.match(r.text, /USMP_E_QOS_NO_POLICY: no hospital address to confirm a change against/);
});

t.test('unknown class for verify', async (t) => {
  const r = await qos(t, { deployment: { mode: 'inline-router' }, qos: labPolicy() }, ['verify', '--policy-elsewhere', '--class', 'nope']);
  t.equal(r.code, 2);
  t.match(r.text, /USMP_E_USAGE: no class named nope in the policy \(classes: video, devices\)/);
});
