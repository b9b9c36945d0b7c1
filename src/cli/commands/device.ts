import type { Command } from 'commander';
import { checkDeviceName, DeviceRegistry } from '../../broker/device-registry.js';
import { generatePassword, hashPassword } from '../../broker/password-hash.js';
import { COMMAND_LEVEL, TopicAcl } from '../../broker/topic-acl.js';
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
    await run(async (ctx, registry, acl) => {
      checkDeviceName(name);
      const password = generatePassword();
      registry.add({ name, passwordHash: await hashPassword(password), createdAt: new Date().toISOString(), description: add.opts<Flags>().description ?? '' });
      const root = acl.deviceRoot(name);
      const credentials = { name, client_id: name, username: name, password, publish: `${root}/#`, subscribe: `${root}/${COMMAND_LEVEL}/#`, registry: registry.file };
      if (add.opts<Flags>().json) ctx.out.json(credentials);
      else {
        ctx.out.say(`device ${name} enrolled. Give these to the device now; the password is not shown again:`);
        ctx.out.say(`  client id / user name: ${name}`);
        ctx.out.say(`  password:              ${password}`);
        ctx.out.say(`  publishes under:       ${root}/… (not ${root}/${COMMAND_LEVEL}/…)`);
        ctx.out.say(`  reads commands from:   ${root}/${COMMAND_LEVEL}/#`);
      }
    }, () => add.opts<Flags>())();
  });

  const remove = device.command('remove <name>').description('withdraw a device: it can no longer connect').option('--json', 'print one JSON document on stdout');
  remove.action(async (name: string) => {
    await run((ctx, registry) => {
      registry.remove(name);
      if (remove.opts<Flags>().json) ctx.out.json({ name, removed: true });
      else ctx.out.say(`device ${name} removed; it cannot connect any more (a connection already open ends at its next reconnect)`);
    }, () => remove.opts<Flags>())();
  });

  const list = device.command('list').description('the enrolled devices (never their passwords)').option('--json', 'print one JSON document on stdout');
  list.action(async () => {
    await run((ctx, registry, acl) => {
      const devices = registry.list().map((d) => ({ name: d.name, description: d.description, created_at: d.createdAt, publish: `${acl.deviceRoot(d.name)}/#` }));
      if (list.opts<Flags>().json) ctx.out.json({ devices });
      else if (devices.length === 0) ctx.out.say(`no device enrolled (${registry.file})`);
      else for (const d of devices) ctx.out.say(`${d.name.padEnd(24)} ${d.created_at}  ${d.description}`);
    }, () => list.opts<Flags>())();
  });
}
