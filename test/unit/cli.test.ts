import { chmodSync } from 'node:fs';
import t from 'tap';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCli } from '../../src/cli/program.js';
import { formatError, type Output } from '../../src/cli/output.js';
import { UsmpError, asUsmpError } from '../../src/errors.js';

const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));

function recorder(): Output & { said: string[]; documents: unknown[] } {
  const said: string[] = [];
  const documents: unknown[] = [];
  return { said, documents, say: (l) => said.push(l), json: (d) => documents.push(d) };
}

function runBuilt(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env: { ...process.env, ...env } }, (error, stdout, stderr) => {
      resolve({ code: error ? Number(error.code) : 0, stdout, stderr });
    });
  });
}

t.test('config check: every problem with its path, exit 2', async (t) => {
  const dir = t.testdir({
    'bad.json': JSON.stringify({ log: { level: 'loud' }, qualify: { plann: 'quick' }, bridge: { upstream: { password_file: '/nonexistent/pw' } } }),
    'good.json': JSON.stringify({ site: { usmp: 'USMP de Fresnes' } }),
  });
  const out = recorder();
  t.equal(await runCli(['config', 'check', join(dir, 'bad.json')], out), 2);
  const text = out.said.join('\n');
  t.match(text, /USMP_E_CONFIG_INVALID: 3 problem/);
  t.match(text, /- log\.level: must be one of/);
  t.match(text, /- qualify\.plann: unknown key \(did you mean qualify\.plan\?\)/);
  t.match(text, /- bridge\.upstream\.password_file: cannot read secret file \/nonexistent\/pw/);
  t.match(text, /what to do:/);

  const good = recorder();
  t.equal(await runCli(['config', 'check', join(dir, 'good.json')], good), 0);
  t.match(good.said.join('\n'), /configuration OK/);

  const asJson = recorder();
  t.equal(await runCli(['config', 'check', '--json', join(dir, 'bad.json')], asJson), 2);
  t.match(asJson.documents[0], { error: { code: 'USMP_E_CONFIG_INVALID', details: { problems: [{ path: 'log.level' }] } } });
});

t.test('config show masks secrets; --env lists variables', async (t) => {
  const dir = t.testdir({ pw: 'hunter2-secret', 'c.json': '{}' });
  chmodSync(join(dir, 'pw'), 0o600);
  const out = recorder();
  const env = { USMP_EDGE_BRIDGE_UPSTREAM_PASSWORD_FILE: join(dir, 'pw') };
  const saved = { ...process.env };
  Object.assign(process.env, env);
  t.teardown(() => {
    process.env = saved;
  });
  t.equal(await runCli(['--config', join(dir, 'c.json'), 'config', 'show'], out), 0);
  const printed = JSON.stringify(out.documents);
  t.notMatch(printed, /hunter2/);
  t.match(JSON.parse(printed)[0], { secrets: { 'bridge.upstream.password': '********' }, values: { responder: { stamp_port: 862 } } });

  const envList = recorder();
  t.equal(await runCli(['config', 'show', '--env'], envList), 0);
  t.match(envList.said.join('\n'), /USMP_EDGE_RESPONDER_STAMP_PORT\s+responder\.stamp_port/);

  const missing = recorder();
  t.equal(await runCli(['--config', join(dir, 'nope.json'), 'config', 'show'], missing), 2);
  t.match(missing.said.join('\n'), /USMP_E_CONFIG_NOT_FOUND/);
});

t.test('usage errors have a code and exit 2', async (t) => {
  for (const argv of [['no-such-command'], ['config', 'check', '--bogus'], ['--log-level', 'shout', 'config', 'show']]) {
    const out = recorder();
    t.equal(await runCli(argv, out), 2, argv.join(' '));
    t.match(out.said.join('\n'), /^usmp-edge: USMP_E_USAGE: /);
  }
});

t.test('the built CLI: --version, --help, exit codes', async (t) => {
  const version = await runBuilt(['--version']);
  t.equal(version.code, 0);
  t.match(version.stdout, /^\d+\.\d+\.\d+/);
  const help = await runBuilt(['--help']);
  t.equal(help.code, 0);
  t.match(help.stdout, /Usage: usmp-edge/);
  t.match(help.stdout, /config/);
  const sub = await runBuilt(['config', 'check', '--help']);
  t.match(sub.stdout, /validate a configuration file/);
  const bad = await runBuilt(['frobnicate']);
  t.equal(bad.code, 2);
  t.match(bad.stderr, /USMP_E_USAGE: unknown command 'frobnicate'/);
  t.equal(bad.stdout, '', 'nothing on stdout');
  const envProblem = await runBuilt(['config', 'check'], { USMP_EDGE_RESPONDER_STAMP_PORT: 'x' });
  t.equal(envProblem.code, 2);
  t.match(envProblem.stderr, /responder\.stamp_port/);
});

t.test('errors: stable codes, hints, wrapping', async (t) => {
  const err = new UsmpError('USMP_E_DEPENDENCY_MISSING', 'iperf3 is not installed', { hint: 'apt-get install iperf3', details: { binary: 'iperf3' } });
  t.equal(formatError(err), 'usmp-edge: USMP_E_DEPENDENCY_MISSING: iperf3 is not installed — what to do: apt-get install iperf3');
  t.same(err.toJSON(), {
    code: 'USMP_E_DEPENDENCY_MISSING',
    message: 'iperf3 is not installed',
    hint: 'apt-get install iperf3',
    details: { binary: 'iperf3' },
  });
  t.equal(asUsmpError(err), err);
  t.match(asUsmpError(new Error('boom')), { code: 'USMP_E_INTERNAL', message: 'boom' });
  t.match(asUsmpError('text'), { code: 'USMP_E_INTERNAL', message: 'text' });
});
