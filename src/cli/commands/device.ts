import type { Command } from 'commander';
import { checkDeviceName, DeviceRegistry } from '../../broker/device-registry.js';
import { generatePassword, hashPassword } from '../../broker/password-hash.js';
import { COMMAND_LEVEL, TopicAcl } from '../../broker/topic-acl.js';
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { ensureSelfSignedCertificate } from '../../tls/self-signed-certificate.js';
import type { ListenerConfig } from '../../broker/listeners.js';
import { UsmpError } from '../../errors.js';
import { systemRunner } from '../../exec/process-runner.js';
import type { CliContext } from '../context.js';
import { EXIT, reportError } from '../output.js';

// usmp-edge device add|remove|list: enrolment of the medical devices. The password is made
// here, printed once, and only its scrypt hash is kept.

interface Flags {
  json?: boolean;
  description?: string;
}

export function registerDeviceCommands(program: Command, context: () => CliContext, setExit: (code: number) => void): void {
  const device = program.command('device').description('enrol medical devices on the broker: credentials and topic rights');
  const run = (action: (ctx: CliContext, registry: DeviceRegistry, acl: TopicAcl) => Promise<void> | void, flags: () => Flags) => async () => {
    const ctx = context();
    try {
      const values = ctx.config().values.broker;
      await action(ctx, new DeviceRegistry(values.devices_file), new TopicAcl(values.topic_prefix));
      setExit(EXIT.OK);
    } catch (err) {
      setExit(reportError(err, ctx.out, flags().json === true));
    }
  };

  const add = device
    .command('add <name>')
    .description('enrol a device; prints its password once (only a hash is kept)')
    .option('--description <text>', 'what the device is (e.g. "ECG, cart 1")')
    .option('--json', 'print one JSON document on stdout');
  add.action(async (name: string) => {
    await run(
      async (ctx, registry, acl) => {
        checkDeviceName(name);
        const password = generatePassword();
        registry.add({
          name,
          passwordHash: await hashPassword(password),
          createdAt: new Date().toISOString(),
          description: add.opts<Flags>().description ?? '',
        });
        const root = acl.deviceRoot(name);
        const credentials = {
          name,
          client_id: name,
          username: name,
          password,
          publish: `${root}/#`,
          subscribe: `${root}/${COMMAND_LEVEL}/#`,
          registry: registry.file,
        };
        if (add.opts<Flags>().json) ctx.out.json(credentials);
        else {
          ctx.out.say(`device ${name} enrolled. Give these to the device now; the password is not shown again:`);
          ctx.out.say(`  client id / user name: ${name}`);
          ctx.out.say(`  password:              ${password}`);
          ctx.out.say(`  publishes under:       ${root}/… (not ${root}/${COMMAND_LEVEL}/…)`);
          ctx.out.say(`  reads commands from:   ${root}/${COMMAND_LEVEL}/#`);
        }
      },
      () => add.opts<Flags>(),
    )();
  });

  const remove = device
    .command('remove <name>')
    .description('withdraw a device: it can no longer connect')
    .option('--json', 'print one JSON document on stdout');
  remove.action(async (name: string) => {
    await run(
      (ctx, registry) => {
        registry.remove(name);
        if (remove.opts<Flags>().json) ctx.out.json({ name, removed: true });
        else ctx.out.say(`device ${name} removed; it cannot connect any more (a connection already open ends at its next reconnect)`);
      },
      () => remove.opts<Flags>(),
    )();
  });

  const list = device.command('list').description('the enrolled devices (never their passwords)').option('--json', 'print one JSON document on stdout');
  list.action(async () => {
    await run(
      (ctx, registry, acl) => {
        const devices = registry
          .list()
          .map((d) => ({ name: d.name, description: d.description, created_at: d.createdAt, publish: `${acl.deviceRoot(d.name)}/#` }));
        if (list.opts<Flags>().json) ctx.out.json({ devices });
        else if (devices.length === 0) ctx.out.say(`no device enrolled (${registry.file})`);
        else for (const d of devices) ctx.out.say(`${d.name.padEnd(24)} ${d.created_at}  ${d.description}`);
      },
      () => list.opts<Flags>(),
    )();
  });

  const tls = device
    .command('tls-cert')
    .description("make the broker's TLS certificate (the first tls listener's cert_file and key_file) and print its fingerprint for the devices")
    .option(
      '--if-missing',
      'keep an existing certificate (and print its fingerprint); the daemon unit runs this at each start, so an image gets its certificate at first boot',
    )
    .option('--json', 'print one JSON document on stdout');
  tls.action(async () => {
    const flags = tls.opts<Flags & { ifMissing?: boolean }>();
    const ctx = context();
    try {
      const values = ctx.config().values;
      const listener = (values.broker.listeners as unknown as ListenerConfig[]).find((l) => l.type === 'tls' && l.cert_file && l.key_file);
      if (!listener) throw new UsmpError('USMP_E_USAGE', 'no tls listener with cert_file and key_file in broker.listeners: nothing to make');
      if (!flags.ifMissing && existsSync(listener.cert_file!))
        throw new UsmpError('USMP_E_USAGE', `${listener.cert_file} exists; devices pin it: remove it first to make a new one, or use --if-missing`);
      const name = values.site.appliance_id || hostname();
      const cert = await ensureSelfSignedCertificate({
        purpose: "the broker's certificate",
        ownFilesKey: 'broker.listeners[].cert_file and key_file',
        certFile: listener.cert_file!,
        keyFile: listener.key_file!,
        commonName: name,
        names: [name, hostname()].filter((n, i, all) => all.indexOf(n) === i),
        runner: systemRunner,
      });
      if (flags.json)
        ctx.out.json({
          cert_file: cert.certFile,
          fingerprint_sha256: cert.fingerprint256,
          subject: cert.subject,
          valid_to: cert.validTo,
          created: cert.created,
        });
      else {
        ctx.out.say(
          `${cert.created ? 'broker certificate made' : 'broker certificate kept'}: ${cert.certFile} (${cert.subject.replace(/\n/g, ', ')}, valid to ${cert.validTo})`,
        );
        ctx.out.say(`devices connect with TLS to port ${listener.port}; certificate SHA-256 fingerprint to give them: ${cert.fingerprint256}`);
      }
      setExit(EXIT.OK);
    } catch (err) {
      setExit(reportError(err, ctx.out, flags.json === true));
    }
  });
}
