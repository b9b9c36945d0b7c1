import t from 'tap';
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

// Every unit we ship passes `systemd-analyze verify` and rates "OK" or better on exposure.

const dir = fileURLToPath(new URL('../../systemd/', import.meta.url));
const units = readdirSync(dir).filter((f) => f.endsWith('.service') || f.endsWith('.socket'));

function analyze(args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) =>
    execFile('systemd-analyze', args, (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as NodeJS.ErrnoException).code ?? 1) : 0, out: stdout + stderr }),
    ),
  );
}

const available = await analyze(['--version']);
const opts = available.code === 0 ? {} : { skip: 'systemd-analyze is not installed (Debian package systemd)' };

for (const unit of units) {
  t.test(`${unit}: verify and exposure`, opts, async (t) => {
    const verify = await analyze(['verify', `${dir}${unit}`]);
    const own = verify.out.split('\n').filter((l) => l.includes(unit));
    t.equal(verify.code, 0, 'systemd-analyze verify exits 0');
    t.same(own, [], 'no warning about this unit');
    if (!unit.endsWith('.service')) return; // exposure is a property of services
    const security = await analyze(['security', '--offline=yes', `${dir}${unit}`]);
    const level = /Overall exposure level for \S+: ([\d.]+) (\w+)/.exec(security.out);
    t.ok(level, 'an exposure level is reported');
    t.ok(['SAFE', 'OK'].includes(level?.[2] ?? ''), `exposure ${level?.[1]} ${level?.[2]}`);
  });
}

// Only the capabilities each one needs: the doc in docs/prison-it.md says the same.
const EXPECTED_CAPABILITIES: Record<string, string> = {
  'usmp-edge.service': '',
  'usmp-edge-collector.service': '',
  'usmp-edge-capture@.service': 'CAP_NET_RAW',
  'usmp-edge-qos.service': 'CAP_NET_ADMIN',
  'usmp-edge-qos-autorate.service': 'CAP_NET_ADMIN',
  // its DSCP rules come from privileged ExecStartPre=+/ExecStopPost=+ steps (responder-dscp), not from the long-running process
  'usmp-edge-responder.service': 'CAP_NET_BIND_SERVICE',
};

t.test('each service has exactly the capabilities it needs, and none runs as root', async (t) => {
  t.same(units.filter((u) => u.endsWith('.service')).sort(), Object.keys(EXPECTED_CAPABILITIES).sort(), 'every service is listed here');
  for (const [unit, caps] of Object.entries(EXPECTED_CAPABILITIES)) {
    const text = readFileSync(`${dir}${unit}`, 'utf8');
    const setting = (key: string): string | undefined => new RegExp(`^${key}=(.*)$`, 'm').exec(text)?.[1];
    t.equal(setting('CapabilityBoundingSet'), caps, `${unit}: bounding set "${caps}"`);
    t.equal(setting('AmbientCapabilities'), caps, `${unit}: ambient set "${caps}"`);
    t.ok(setting('User') === 'usmp-edge' || setting('DynamicUser') === 'yes', `${unit}: an unprivileged user`);
    for (const key of ['NoNewPrivileges', 'ProtectHome', 'PrivateTmp']) t.equal(setting(key), 'yes', `${unit}: ${key}=yes`);
    t.equal(setting('ProtectSystem'), 'strict', `${unit}: ProtectSystem=strict`);
    t.equal(setting('SystemCallFilter'), '@system-service', `${unit}: SystemCallFilter=@system-service`);
  }
  const daemon = readFileSync(`${dir}usmp-edge.service`, 'utf8');
  t.match(daemon, /^Type=notify$/m);
  t.match(daemon, /^WatchdogSec=\d+s$/m);
});
