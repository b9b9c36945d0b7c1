import t from 'tap';
import { chmodSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { checkSecretFileAccess } from '../../src/config/secret-file-access.js';
import { loadConfig } from '../../src/config/load.js';
import { envNameFor, listLeaves } from '../../src/config/schema.js';
import { nearestKey, lineAndColumn } from '../../src/config/problems.js';
import { formatProblems, unknownKeys } from '../../src/config/check-values.js';
import { UsmpError } from '../../src/errors.js';

function problemsOf(fn: () => unknown): Array<{ path: string; message: string }> {
  try {
    fn();
  } catch (err) {
    if (err instanceof UsmpError) return (err.details?.['problems'] as Array<{ path: string; message: string }>) ?? [];
    throw err;
  }
  return [];
}

t.test('defaults load when no file exists and no file was named', async (t) => {
  const config = loadConfig({ file: '/nonexistent/usmp-edge.json', explicit: false, env: {} });
  t.equal(config.source, null);
  t.equal(config.values.responder.stamp_port, 862);
  t.equal(config.values.log.level, 'info');
  t.ok(Object.isFrozen(config.values.responder), 'config is frozen');
  t.throws(() => {
    (config.values.responder as { stamp_port: number }).stamp_port = 1;
  });
});

t.test('an unknown key, a wrong type and a missing secret file are all reported with their paths', async (t) => {
  const dir = t.testdir({
    'config.json': JSON.stringify({
      responder: { stamp_port: 'eight-six-two', stamp_prot: 5 },
      bridge: { upstream: { url: 'mqtts://ch.example:8883', username: 'usmp', password_file: '/nonexistent/secret' } },
    }),
  });
  const problems = problemsOf(() => loadConfig({ file: join(dir, 'config.json'), env: {} }));
  t.equal(problems.length, 3, JSON.stringify(problems));
  t.match(problems, [
    { path: 'responder.stamp_port', message: /port/ },
    { path: 'responder.stamp_prot', message: /unknown key.*responder\.stamp_port/ },
    { path: 'bridge.upstream.password_file', message: /ENOENT/ },
  ]);
});

t.test('secrets are read from *_file keys, trimmed, and never printed', async (t) => {
  const dir = t.testdir({ pw: 's3cret-value\n' });
  chmodSync(join(dir, 'pw'), 0o600);
  const config = loadConfig({
    file: '/nonexistent',
    explicit: false,
    env: {
      USMP_EDGE_BRIDGE_UPSTREAM_URL: 'mqtts://ch.example:8883',
      USMP_EDGE_BRIDGE_UPSTREAM_USERNAME: 'usmp',
      USMP_EDGE_BRIDGE_UPSTREAM_PASSWORD_FILE: join(dir, 'pw'),
    },
  });
  t.equal(config.secrets.get('bridge.upstream.password'), 's3cret-value');
  const printed = JSON.stringify(config) + String(config.secrets) + (await import('node:util')).inspect(config, { depth: 9 });
  t.notMatch(printed, /s3cret/);
});

t.test('a secret file open to other users, or owned by another user, is refused with the command that fixes it', async (t) => {
  const dir = t.testdir({ pw: 's3cret-value\n', 'c.json': '{}' });
  const pw = join(dir, 'pw');
  chmodSync(pw, 0o644); // what `echo secret > file` makes
  const env = { USMP_EDGE_BRIDGE_UPSTREAM_PASSWORD_FILE: pw };
  t.match(
    problemsOf(() => loadConfig({ file: join(dir, 'c.json'), env })),
    [{ path: 'bridge.upstream.password_file', message: new RegExp(`open to other users \\(mode 0644\\); run: chmod 640 ${pw}`) }],
  );
  chmodSync(pw, 0o640);
  t.equal(loadConfig({ file: join(dir, 'c.json'), env }).secrets.get('bridge.upstream.password'), 's3cret-value', '0640: owner and group only');
  const stat = (path: string) => Object.assign(statSync(path), { uid: 4242 });
  t.throws(() => checkSecretFileAccess(pw, { stat, uid: 1000 }), { code: 'USMP_E_SECRET_FILE_UNSAFE', message: /belongs to user 4242.*chown 1000/ });
  t.doesNotThrow(
    () => checkSecretFileAccess(pw, { stat: (p) => Object.assign(statSync(p), { uid: 0 }), uid: 1000 }),
    'root-owned (root:usmp-edge 0640) is the packaged layout',
  );
});

t.test('an empty secret file is a problem', async (t) => {
  const dir = t.testdir({ pw: '\n', 'c.json': '{}' });
  chmodSync(join(dir, 'pw'), 0o600);
  const problems = problemsOf(() => loadConfig({ file: join(dir, 'c.json'), env: { USMP_EDGE_BRIDGE_UPSTREAM_PASSWORD_FILE: join(dir, 'pw') } }));
  t.match(problems, [{ path: 'bridge.upstream.password_file', message: /empty/ }]);
});

t.test('environment overrides the file, and a bad environment value names the key', async (t) => {
  const dir = t.testdir({ 'c.json': JSON.stringify({ responder: { stamp_port: 1862 } }) });
  const file = join(dir, 'c.json');
  t.equal(loadConfig({ file, env: {} }).values.responder.stamp_port, 1862);
  t.equal(loadConfig({ file, env: { USMP_EDGE_RESPONDER_STAMP_PORT: '2862' } }).values.responder.stamp_port, 2862);
  t.match(
    problemsOf(() => loadConfig({ file, env: { USMP_EDGE_RESPONDER_STAMP_PORT: '99999' } })),
    [{ path: 'responder.stamp_port' }],
  );
});

t.test('cross-field rules: an upstream broker needs credentials', async (t) => {
  const problems = problemsOf(() => loadConfig({ file: '/nonexistent', explicit: false, env: { USMP_EDGE_BRIDGE_UPSTREAM_URL: 'mqtts://ch.example:8883' } }));
  t.same(problems.map((p) => p.path).sort(), ['bridge.upstream.password_file', 'bridge.upstream.username']);
});

t.test('custom formats reject what they should', async (t) => {
  const env = {
    USMP_EDGE_RESPONDER_BIND: 'not-an-ip',
    USMP_EDGE_BRIDGE_UPSTREAM_URL: 'http://ch.example',
    USMP_EDGE_BRIDGE_UPSTREAM_PASSWORD_FILE: 'relative/path',
    USMP_EDGE_QUALIFY_TARGET: 'bad host!',
  };
  const paths = problemsOf(() => loadConfig({ file: '/nonexistent', explicit: false, env })).map((p) => p.path);
  t.same(paths.sort(), ['bridge.upstream.password_file', 'bridge.upstream.url', 'qualify.target', 'responder.bind']);
});

t.test('a named file that does not exist, bad JSON, and a non-object are distinct errors', async (t) => {
  const dir = t.testdir({ 'syntax.json': '{\n  "log": { "level": "info", }\n}', 'array.json': '[]' });
  t.throws(() => loadConfig({ file: join(dir, 'missing.json') }), { code: 'USMP_E_CONFIG_NOT_FOUND' });
  t.throws(() => loadConfig({ file: join(dir, 'syntax.json') }), { code: 'USMP_E_CONFIG_SYNTAX', message: /syntax\.json:2:/ });
  t.throws(() => loadConfig({ file: join(dir, 'array.json') }), { code: 'USMP_E_CONFIG_INVALID' });
});

t.test('environment variable names are derived from key paths and unique', async (t) => {
  t.equal(envNameFor('responder.stamp_port'), 'USMP_EDGE_RESPONDER_STAMP_PORT');
  const names = listLeaves().map((l) => envNameFor(l.path));
  t.equal(new Set(names).size, names.length);
  for (const { leaf, path } of listLeaves()) t.ok(leaf.doc.length > 0, `${path} is documented`);
});

t.test("problems are located as data: unknown keys at any depth, a branch given a value, each format's own message", async (t) => {
  const unknown = unknownKeys({ log: { levle: 'info' }, capture: 'eth0', qos: { classes: [{ anything: 1 }] }, nothere: 1 });
  t.equal(unknown.length, 3, "a leaf holding a list (qos.classes) is its format's to judge");
  t.match(unknown, [
    { path: 'log.levle', message: 'unknown key (did you mean log.level?)' },
    { path: 'capture', message: /must be an object with the keys interface, filter/ },
    { path: 'nothere', message: 'unknown key' },
  ]);
  const values = new Map<string, unknown>([
    ['log.level', 'loud'],
    ['responder.stamp_port', 70_000],
    ['capture.idle_s', -1],
    ['qualify.target', 'bad host!'],
  ]);
  const defaults = loadConfig({ file: '/nonexistent', explicit: false, env: {} }).values as unknown as Record<string, unknown>;
  const get = (path: string) => (values.has(path) ? values.get(path) : path.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown>)[k], defaults));
  t.match(formatProblems(get), [
    { path: 'log.level', message: /^must be one of "fatal", "error"/ },
    { path: 'responder.stamp_port', message: 'must be a port number, 0 to 65535' },
    { path: 'qualify.target', message: /host/ },
    { path: 'capture.idle_s', message: 'must be a whole number, 0 or more' },
  ]);
  t.same(
    formatProblems((path) => path.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown>)[k], defaults)),
    [],
    'every format of the schema is known, and every default passes it',
  );
  t.equal(nearestKey('log.levle'), 'log.level');
  t.equal(nearestKey('completely.different.thing'), undefined);
  t.same(lineAndColumn('ab\ncd', 4), { line: 2, column: 2 });
});

t.test("an enumerated key has its values' literal type, not string", async (t) => {
  const values = loadConfig({ file: '/nonexistent', explicit: false, env: {} }).values;
  // compile-time: each line below fails the build (npm run typecheck) if the type widens to string
  const literal: string extends typeof values.qualify.plan ? never : true = true;
  const mode: string extends typeof values.qos.backend ? never : true = true;
  const level: string extends typeof values.log.level ? never : true = true;
  t.same([literal, mode, level], [true, true, true]);
  t.equal(values.qualify.plan, 'quick');
});

t.test('config/default.json is exactly the schema defaults', async (t) => {
  const file = new URL('../../config/default.json', import.meta.url).pathname;
  t.same(loadConfig({ file, env: {} }).values, loadConfig({ file: '/nonexistent', explicit: false, env: {} }).values);
});
