import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { UsmpError } from '../../errors.js';
import { writeFileDurably } from '../../exec/durable-file.js';
import { credentialsDocument } from '../../responder/appliance-credentials.js';
import { enrollAppliance, ensureIperfRsaKey, readResponderKeys, revokeAppliance, writeResponderKeys } from '../../responder/responder-keys.js';
import type { CliContext } from '../context.js';
import { EXIT, reportError } from '../output.js';

// usmp-edge responder-keys enroll|revoke|list, on the responder: one set of credentials per
// appliance (its STAMP key and SSID, its iperf3 user and password). The appliance's file is
// written once, mode 600, to be carried to the appliance; the responder keeps the key and a hash
// of the password. A running responder takes the change on SIGHUP (systemctl reload).

interface Flags {
  out?: string;
  json?: boolean;
}

export function registerResponderKeysCommands(program: Command, context: () => CliContext, setExit: (code: number) => void): void {
  const group = program
    .command('responder-keys')
    .description('on the responder: the appliances allowed to measure against it (STAMP keys, iperf3 credentials)');
  const run = (action: (ctx: CliContext) => void, json: () => boolean) => () => {
    const ctx = context();
    try {
      action(ctx);
      setExit(EXIT.OK);
    } catch (err) {
      setExit(reportError(err, ctx.out, json()));
    }
  };

  const enroll = group
    .command('enroll <appliance>')
    .description('give an appliance credentials; writes its credentials file (to copy to the appliance as qualify.responder_credentials_file)')
    .requiredOption('--out <file>', "where to write the appliance's credentials (mode 600; must not exist)")
    .option('--json', 'print one JSON document on stdout');
  enroll.action((name: string) =>
    run(
      (ctx) => {
        const flags = enroll.opts<Flags>();
        const r = ctx.config().values.responder;
        if (existsSync(flags.out!)) throw new UsmpError('USMP_E_USAGE', `${flags.out} exists; credentials are written to a new file only`);
        const { publicKeyPem } = ensureIperfRsaKey(r.iperf_rsa_key_file);
        const { keys, credentials } = enrollAppliance(readResponderKeys(r.keys_file), name, publicKeyPem, new Date());
        writeFileDurably(flags.out!, `${JSON.stringify(credentialsDocument(credentials), null, 2)}\n`, 0o600);
        writeResponderKeys(r.keys_file, keys);
        const summary = { appliance: name, ssid: credentials.stamp.ssid, credentials_file: flags.out, keys_file: r.keys_file };
        if (flags.json) ctx.out.json(summary);
        else
          ctx.out.say(
            `enrolled ${name} (STAMP SSID ${credentials.stamp.ssid}); its credentials are in ${flags.out}: copy it to the appliance (mode 600) and reload the responder`,
          );
      },
      () => enroll.opts<Flags>().json === true,
    )(),
  );

  const revoke = group
    .command('revoke <appliance>')
    .description("take an appliance's credentials away (reload the responder to apply)")
    .option('--json', 'print one JSON document on stdout');
  revoke.action((name: string) =>
    run(
      (ctx) => {
        const r = ctx.config().values.responder;
        writeResponderKeys(r.keys_file, revokeAppliance(readResponderKeys(r.keys_file), name));
        if (revoke.opts<Flags>().json) ctx.out.json({ revoked: name });
        else ctx.out.say(`revoked ${name}`);
      },
      () => revoke.opts<Flags>().json === true,
    )(),
  );

  const list = group.command('list').description('the enrolled appliances (never their secrets)').option('--json', 'print one JSON document on stdout');
  list.action(() =>
    run(
      (ctx) => {
        const appliances = readResponderKeys(ctx.config().values.responder.keys_file).appliances.map((a) => ({
          name: a.name,
          ssid: a.ssid,
          enrolled_at: a.enrolled_at,
        }));
        if (list.opts<Flags>().json) ctx.out.json({ appliances });
        else if (appliances.length === 0) ctx.out.say('no appliance enrolled');
        else for (const a of appliances) ctx.out.say(`${a.name}\tSSID ${a.ssid}\tsince ${a.enrolled_at}`);
      },
      () => list.opts<Flags>().json === true,
    )(),
  );
}
