import t from 'tap';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { verifyPassword } from '../../src/broker/password-hash.js';
import { AccessStore } from '../../src/collector/auth/access-store.js';
import { migratedSqlite } from '../fixtures/collector-database.js';
import { CLI } from '../bridge/fixtures.js';

// The administrator's commands for the collector's accounts and tokens, through the built CLI:
// what they print, what they store (never a password in clear), what they refuse.

function cli(args: string[], stdin = ''): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [CLI, ...args], { timeout: 30_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
    );
    child.stdin!.end(stdin);
  });
}

t.test('collector user and token commands', async (t) => {
  const dir = t.testdir();
  const database = join(dir, 'collector.sqlite');
  const config = join(dir, 'config.json');
  writeFileSync(config, JSON.stringify({ collector: { database } }));
  const c = (...args: string[]) => cli(['-c', config, 'collector', ...args]);

  const added = await c('user', 'add', 'j.martin', '--role', 'national', '--role', 'region:DISP Dijon');
  t.equal(added.code, 0, added.stderr);
  const generated = added.stdout.trim();
  t.match(generated, /^[A-Za-z0-9_-]{32}$/, 'a generated password, printed once on stdout');
  t.match(added.stderr, /shown once; it is stored hashed/);
  const piped = await cli(['-c', config, 'collector', 'user', 'add', 'dijon', '--role', 'region:DISP Dijon', '--password-stdin'], 'a password from a pipe\n');
  t.equal(piped.code, 0, piped.stderr);
  t.equal(piped.stdout, '', 'a piped password is not printed');
  t.equal(
    (await cli(['-c', config, 'collector', 'user', 'add', 'short', '--role', 'national', '--password-stdin'], 'tooshort\n')).code,
    2,
    'a password under 12 characters is refused',
  );
  t.match((await c('user', 'add', 'j.martin', '--role', 'national')).stderr, /USMP_E_USAGE: a user named j.martin exists already/);
  t.match((await c('user', 'add', 'x', '--role', 'admin')).stderr, /USMP_E_USAGE: "admin" is not a role/);
  t.match((await c('user', 'add', 'bad name', '--role', 'national')).stderr, /a user name is 1 to 64/);

  const list = JSON.parse((await c('user', 'list', '--json')).stdout) as Array<{ name: string; roles: string[] }>;
  t.same(
    list.map((u) => [u.name, u.roles]),
    [
      ['dijon', ['region:DISP Dijon']],
      ['j.martin', ['national', 'region:DISP Dijon']],
    ],
    'listed with roles; the refused ones are not there',
  );
  t.notMatch(JSON.stringify(list), generated, 'no password in the list');

  const db = await migratedSqlite(database);
  t.teardown(() => db.close());
  const access = new AccessStore(db);
  const stored = (await access.credentialsOf('j.martin'))!;
  t.match(stored.passwordHash, /^\$scrypt\$ln=14,r=8,p=5\$/, 'stored as a scrypt hash');
  t.ok(await verifyPassword(generated, stored.passwordHash));

  const session = await access.createSession({ user: 'j.martin', source: 'local', roles: stored.roles }, Date.now());
  const changed = await cli(['-c', config, 'collector', 'user', 'passwd', 'j.martin', '--password-stdin'], 'a new password of 24 chars\n');
  t.equal(changed.code, 0, changed.stderr);
  t.ok(await verifyPassword('a new password of 24 chars', (await access.credentialsOf('j.martin'))!.passwordHash), 'the new password holds');
  t.notOk(await access.session(session, Date.now(), { idleMs: 60_000, absoluteMs: 60_000 }), "and the account's sessions ended");

  const made = JSON.parse((await c('token', 'add', '--user', 'j.martin', '--label', 'Grafana', '--json')).stdout) as { id: string; token: string };
  t.match(made.token, /^usmpc_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
  t.match(await access.apiTokenHolder(made.token, new Date()), { user: 'j.martin' }, 'the token speaks for its user');
  t.equal((await c('token', 'revoke', made.id)).code, 0);
  t.equal(await access.apiTokenHolder(made.token, new Date()), undefined, 'revoked');
  t.match((await c('token', 'revoke', made.id)).stderr, /no token/);

  const again = JSON.parse((await c('token', 'add', '--user', 'j.martin', '--label', 'x', '--json')).stdout) as { token: string };
  t.equal((await c('user', 'remove', 'j.martin')).code, 0);
  t.equal(await access.apiTokenHolder(again.token, new Date()), undefined, "a removed user's tokens die with it");
  t.match((await c('user', 'remove', 'j.martin')).stderr, /no user named j.martin/);
});
