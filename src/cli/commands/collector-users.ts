import type { Command } from 'commander';
import { generatePassword, hashPassword } from '../../broker/password-hash.js';
import { AccessStore } from '../../collector/auth/access-store.js';
import { formatRole, parseRole } from '../../collector/auth/roles.js';
import { openConfiguredDatabase } from '../../collector/sql/configured-database.js';
import type { SqlDatabase } from '../../collector/sql/sql-database.js';
import { UsmpError } from '../../errors.js';
import type { CliContext } from '../context.js';
import { EXIT, reportError } from '../output.js';

// usmp-edge collector user add|remove|list|passwd: the local accounts of a standalone collector
// (passwords hashed with scrypt as device passwords are, shown once when generated, never
// stored in clear); usmp-edge collector token add|revoke: bearer tokens for spreadsheets and
// Grafana made from the command line.

const MIN_PASSWORD_LENGTH = 12;
const USER_NAME = /^[A-Za-z0-9._@-]{1,64}$/;

interface UserFlags {
  role?: string[];
  passwordStdin?: boolean;
  json?: boolean;
}

async function readStdinPassword(): Promise<string> {
  if (process.stdin.isTTY)
    throw new UsmpError('USMP_E_USAGE', '--password-stdin reads the password from a pipe, e.g. printf %s "$PW" | usmp-edge collector user add …');
  let text = '';
  for await (const chunk of process.stdin) text += String(chunk);
  const password = text.replace(/\r?\n$/, '');
  if (password.length < MIN_PASSWORD_LENGTH) throw new UsmpError('USMP_E_USAGE', `a password has at least ${MIN_PASSWORD_LENGTH} characters`);
  return password;
}

export function registerCollectorUsers(collector: Command, context: () => CliContext, setExit: (code: number) => void): void {
  const run =
    (cmd: Command, action: (ctx: CliContext, access: AccessStore, flags: UserFlags, ...args: string[]) => Promise<void>) =>
    async (...args: string[]) => {
      const ctx = context();
      const flags = cmd.opts<UserFlags>();
      let db: SqlDatabase | undefined;
      try {
        db = await openConfiguredDatabase(ctx.config(), ctx.logger(2));
        await action(ctx, new AccessStore(db), flags, ...args);
        setExit(EXIT.OK);
      } catch (err) {
        setExit(reportError(err, ctx.out, flags.json === true));
      } finally {
        await db?.close();
      }
    };
  const collect = (value: string, previous: string[] = []) => [...previous, value];

  const user = collector.command('user').description('local accounts of the collector (when there is no single sign-on, or beside it)');
  const add = user
    .command('add <name>')
    .description('create an account; without --password-stdin a password is generated and printed once')
    .requiredOption('--role <role>', 'national, region:<interregional direction> or site:<establishment code>; repeat for several', collect)
    .option('--password-stdin', 'read the password from standard input')
    .option('--json', 'print one JSON document on stdout');
  add.action(
    run(add, async (ctx, access, flags, name) => {
      if (!USER_NAME.test(name)) throw new UsmpError('USMP_E_USAGE', 'a user name is 1 to 64 letters, digits, dots, dashes, underscores or @');
      const roles = (flags.role ?? []).map(parseRole);
      const generated = !flags.passwordStdin;
      const password = generated ? generatePassword() : await readStdinPassword();
      await access.addUser(name, await hashPassword(password), roles, new Date());
      if (flags.json) ctx.out.json({ name, roles: roles.map(formatRole), ...(generated ? { password } : {}) });
      else if (generated) process.stdout.write(`${password}\n`);
      ctx.out.say(
        `user ${name} created with ${roles.map(formatRole).join(', ')}${generated ? ' (the password above is shown once; it is stored hashed)' : ''}`,
      );
    }),
  );

  const remove = user
    .command('remove <name>')
    .description('delete an account, its sessions and its tokens')
    .option('--json', 'print one JSON document on stdout');
  remove.action(
    run(remove, async (ctx, access, flags, name) => {
      if (!(await access.removeUser(name))) throw new UsmpError('USMP_E_USAGE', `no user named ${name}`);
      if (flags.json) ctx.out.json({ removed: name });
      ctx.out.say(`user ${name} removed, with its sessions and tokens`);
    }),
  );

  const list = user.command('list').description('the accounts and their roles (never a password)').option('--json', 'print one JSON document on stdout');
  list.action(
    run(list, async (ctx, access, flags) => {
      const users = (await access.users()).map((u) => ({ name: u.name, roles: u.roles.map(formatRole), created_at: u.created_at }));
      if (flags.json) ctx.out.json(users);
      else for (const u of users) process.stdout.write(`${u.name}\t${u.roles.join(', ')}\t${u.created_at}\n`);
    }),
  );

  const passwd = user
    .command('passwd <name>')
    .description("a new password (generated and printed once, or from standard input); the account's sessions end")
    .option('--password-stdin', 'read the password from standard input')
    .option('--json', 'print one JSON document on stdout');
  passwd.action(
    run(passwd, async (ctx, access, flags, name) => {
      const generated = !flags.passwordStdin;
      const password = generated ? generatePassword() : await readStdinPassword();
      if (!(await access.setPassword(name, await hashPassword(password)))) throw new UsmpError('USMP_E_USAGE', `no user named ${name}`);
      if (flags.json) ctx.out.json({ name, ...(generated ? { password } : {}) });
      else if (generated) process.stdout.write(`${password}\n`);
      ctx.out.say(`password of ${name} changed; their sessions ended`);
    }),
  );

  const token = collector.command('token').description('bearer tokens for exports and the API (spreadsheets, Grafana)');
  const tokenAdd = token
    .command('add')
    .description('make a token with the roles its user has now; printed once, stored hashed')
    .requiredOption('--user <name>', 'the local account it speaks for')
    .requiredOption('--label <text>', 'what it is for, e.g. "Grafana DISP Dijon"')
    .option('--json', 'print one JSON document on stdout');
  tokenAdd.action(
    run(tokenAdd, async (ctx, access, flags) => {
      const f = tokenAdd.opts<{ user: string; label: string }>();
      const holder = await access.credentialsOf(f.user);
      if (!holder) throw new UsmpError('USMP_E_USAGE', `no user named ${f.user}`);
      const made = await access.createApiToken(f.user, f.label.slice(0, 64), holder.roles, new Date());
      if (flags.json) ctx.out.json({ id: made.id, user: f.user, token: made.token });
      else process.stdout.write(`${made.token}\n`);
      ctx.out.say(`token ${made.id} made for ${f.user} (shown once; send it as Authorization: Bearer …)`);
    }),
  );

  const tokenRevoke = token
    .command('revoke <id>')
    .description("revoke a token (its id is listed on its user's account page)")
    .option('--json', 'print one JSON document on stdout');
  tokenRevoke.action(
    run(tokenRevoke, async (ctx, access, flags, id) => {
      if (!(await access.revokeApiToken(id, undefined))) throw new UsmpError('USMP_E_USAGE', `no token ${id}`);
      if (flags.json) ctx.out.json({ revoked: id });
      ctx.out.say(`token ${id} revoked`);
    }),
  );
}
