import t, { type Test } from 'tap';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

// The image's network and firewall per deployment mode (images/network-config.sh): the files
// it writes, and the firewall accepted by nftables itself (`nft -c`, in a namespace of ours).

const run = promisify(execFile);
const SCRIPT = fileURLToPath(new URL('../../images/network-config.sh', import.meta.url));
const common = ['--lan-if', 'enp1s0', '--wan-if', 'enp2s0', '--address', '198.18.2.2/24', '--gateway', '198.18.2.1', '--admin-nets', '198.18.9.0/24'];

async function configure(t: Test, mode: string, extra: string[] = []): Promise<{ dir: string; files: Record<string, string>; firewall: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'usmp-netcfg-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  await run('sh', [SCRIPT, '--out', dir, '--mode', mode, ...common, ...extra]);
  const files = Object.fromEntries(readdirSync(join(dir, 'network')).map((f) => [f, readFileSync(join(dir, 'network', f), 'utf8')]));
  return { dir, files, firewall: readFileSync(join(dir, 'nftables.conf'), 'utf8') };
}

async function nftAccepts(t: Test, file: string): Promise<void> {
  if (process.getuid?.() !== 0) return void t.comment('not root: nft -c not run');
  const ns = `usmp-nftc-${process.pid}`;
  await run('ip', ['netns', 'add', ns]);
  try {
    await run('ip', ['netns', 'exec', ns, 'nft', '-c', '-f', file]);
    t.pass('nft -c accepts the firewall');
  } finally {
    await run('ip', ['netns', 'del', ns]);
  }
}

t.test('one-armed: every Ethernet port, nothing forwarded', async (t) => {
  const c = await configure(t, 'one-armed');
  t.same(Object.keys(c.files), ['10-ethernet.network']);
  t.match(c.files['10-ethernet.network'], /\[Match\]\nType=ether\n\n\[Network\]\nAddress=198\.18\.2\.2\/24\nGateway=198\.18\.2\.1\n/);
  t.match(c.firewall, /chain forward \{\n\s+type filter hook forward priority filter; policy drop;\n\s*\n\s*\}/, 'the forward chain drops everything');
  await nftAccepts(t, join(c.dir, 'nftables.conf'));
});

t.test('inline-bridge: both ports in br0, which holds the management address', async (t) => {
  const c = await configure(t, 'inline-bridge');
  t.same(Object.keys(c.files).sort(), ['10-br0.netdev', '20-ports.network', '30-br0.network']);
  t.match(c.files['10-br0.netdev'], /Name=br0\nKind=bridge/);
  t.match(c.files['20-ports.network'], /Name=enp1s0 enp2s0\n\n\[Network\]\nBridge=br0\n/);
  t.match(c.files['30-br0.network'], /Name=br0\n\n\[Network\]\nAddress=198\.18\.2\.2\/24\nGateway=198\.18\.2\.1/);
  t.match(c.firewall, /tcp dport 22 ip saddr @admin_nets accept/, "the appliance's own doors keep the flow matrix");
  t.match(
    c.firewall,
    /policy drop;\n\s+iifname "br0" oifname "br0" accept comment/,
    'bridged frames pass the forward chain where br_netfilter shows them to it',
  );
  await nftAccepts(t, join(c.dir, 'nftables.conf'));
});

t.test("inline-router: the unit's gateway, forwarding its traffic to the site's router only", async (t) => {
  const c = await configure(t, 'inline-router', ['--lan-address', '192.168.10.1/24']);
  t.match(c.files['20-lan.network'], /Name=enp1s0\n\n\[Network\]\nAddress=192\.168\.10\.1\/24\nIPv4Forwarding=yes/);
  t.match(c.files['30-wan.network'], /Name=enp2s0\n\n\[Network\]\nAddress=198\.18\.2\.2\/24\nGateway=198\.18\.2\.1\nIPv4Forwarding=yes/);
  t.match(c.firewall, /ct state established,related accept\n\s+ct state invalid drop\n\s+iifname "enp1s0" oifname "enp2s0" accept/);
  await nftAccepts(t, join(c.dir, 'nftables.conf'));
});

t.test('settings that cannot work are refused', async (t) => {
  const fails = async (args: string[]): Promise<string> =>
    run('sh', [SCRIPT, '--out', join(tmpdir(), 'never'), ...args]).then(
      () => 'no error',
      (e: { stderr: string }) => e.stderr,
    );
  t.match(await fails(['--mode', 'inline-router', '--lan-if', 'a', '--wan-if', 'b']), /inline-router needs --lan-address/);
  t.match(await fails(['--mode', 'inline-bridge', '--lan-if', 'a']), /needs --lan-if and --wan-if/);
  t.match(await fails(['--mode', 'inline-bridge', '--lan-if', 'a', '--wan-if', 'a']), /the same interface/);
  t.match(await fails(['--mode', 'inline-bridge', '--lan-if', 'eth0;reboot', '--wan-if', 'b']), /is not an interface name/);
  t.match(await fails(['--mode', 'bump']), /unknown --mode bump/);
});
