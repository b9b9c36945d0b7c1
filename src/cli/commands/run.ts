import type { Command } from 'commander';
import { DeviceBridgeService } from '../../daemon/device-bridge-service.js';
import type { CliContext } from '../context.js';
import { EXIT, reportError } from '../output.js';

// usmp-edge run: the appliance daemon. Today: the device broker, the durable outbox and the
// hospital bridge; monitoring, metrics and systemd notify come with the daemon issue (6).

export function registerRunCommand(program: Command, context: () => CliContext, setExit: (code: number) => void): void {
  program
    .command('run')
    .description('the appliance daemon: device broker, durable outbox and hospital bridge, until SIGTERM/SIGINT')
    .action(async () => {
      const ctx = context();
      try {
        await runDaemon(ctx);
        setExit(EXIT.OK);
      } catch (err) {
        setExit(reportError(err, ctx.out, false));
      }
    });
}

async function runDaemon(ctx: CliContext): Promise<void> {
  const config = ctx.config();
  const log = ctx.logger(1);
  const stopped = new Promise<string>((resolve) => {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => resolve(signal));
  });
  const service = new DeviceBridgeService(config, log);
  try {
    await service.start();
    log.info({ event: 'daemon.ready', listeners: service.listeners }, 'usmp-edge ready');
    const signal = await stopped;
    log.info({ event: 'daemon.stopping', signal }, 'stopping');
  } finally {
    await service.stop();
  }
}
