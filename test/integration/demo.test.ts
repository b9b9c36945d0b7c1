import t from 'tap';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI } from '../lab/cli-in-lab.js';
import { validateReport } from '../../src/report/qualification-report.js';
import { labUnavailableReason } from '../lab/index.js';
import { listNamespaces } from '../../src/lab/namespaces.js';

// The README's main command, for real: as root it builds a weak lab link and qualifies it.

const run = (args: string[]): Promise<{ code: number; stderr: string; pid: number | undefined }> =>
  new Promise((resolve) => {
    const child = execFile(process.execPath, [CLI, ...args], { timeout: 180_000 }, (err, _out, stderr) =>
      resolve({ code: err ? Number((err as NodeJS.ErrnoException).code ?? 1) : 0, stderr, pid: child.pid }),
    );
  });

const unavailable = labUnavailableReason();

t.test('usmp-edge demo qualifies a weak lab link and says why it fails', unavailable ? { skip: unavailable } : {}, async (t) => {
  const out = t.testdir();
  const demo = await run(['demo', '--out', out]);
  t.equal(demo.code, 0, 'the demo itself succeeds, whatever the verdict');
  t.match(demo.stderr, /a lab link shaped like a weak site link/);
  t.match(demo.stderr, /Verdict: FAIL/);
  t.match(demo.stderr, /bufferbloat/, 'the remediation says why (in French by default)');
  const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as { verdict: string; remediation: { category: string } };
  t.same(validateReport(report), []);
  t.equal(report.remediation.category, 'qos');
  // lab namespaces are named after the process that made them (src/lab/namespaces.ts); other
  // test files may have labs of their own meanwhile
  t.ok(demo.pid !== undefined);
  t.same(
    listNamespaces().filter((ns) => /^ulab(\d+)[a-z]+-/.exec(ns)?.[1] === String(demo.pid)),
    [],
    'the demo removed its lab',
  );
});
