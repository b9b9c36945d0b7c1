import t from 'tap';
import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

// Every unit we ship passes `systemd-analyze verify` and rates "OK" or better on exposure.

const dir = fileURLToPath(new URL('../../systemd/', import.meta.url));
const units = readdirSync(dir).filter((f) => f.endsWith('.service'));

function analyze(args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => execFile('systemd-analyze', args, (err, stdout, stderr) => resolve({ code: err ? Number((err as NodeJS.ErrnoException).code ?? 1) : 0, out: stdout + stderr })));
}

const available = await analyze(['--version']);
const opts = available.code === 0 ? {} : { skip: 'systemd-analyze is not installed (Debian package systemd)' };

for (const unit of units) {
  t.test(`${unit}: verify and exposure`, opts, async (t) => {
    const verify = await analyze(['verify', `${dir}${unit}`]);
    const own = verify.out.split('\n').filter((l) => l.includes(unit));
    t.equal(verify.code, 0, 'systemd-analyze verify exits 0');
    t.same(own, [], 'no warning about this unit');
    const security = await analyze(['security', '--offline=yes', `${dir}${unit}`]);
    const level = /Overall exposure level for \S+: ([\d.]+) (\w+)/.exec(security.out);
    t.ok(level, 'an exposure level is reported');
    t.ok(['SAFE', 'OK'].includes(level?.[2] ?? ''), `exposure ${level?.[1]} ${level?.[2]}`);
  });
}
