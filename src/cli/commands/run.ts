import type { Command } from 'commander';
import { loadConfig } from '../../config/load.js';
import { ApplianceDaemon } from '../../daemon/appliance-daemon.js';
import { SystemdNotifier } from '../../daemon/sd-notify.js';
import type { CliContext } from '../context.js';
import { EXIT, reportError } from '../output.js';

// usmp-edge run: the appliance daemon. systemd Type=notify: READY=1 once every
// part has started (or been reported failed), RELOADING=1 around a SIGHUP reload, STOPPING=1
// on SIGTERM; the watchdog is fed from the event loop (sd-notify.ts).

export function registerRunCommand(program: Command, context: () => CliContext, setExit: (code: number) => void): void {
  program
    .command('run')
    .description(
      'the appliance daemon: device broker and hospital bridge, link monitoring and alerts, passive call quality, /metrics and /health; SIGHUP reloads, SIGTERM stops',
    )
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
  const log = ctx.logger(1);
  const daemon = new ApplianceDaemon(ctx.config(), log);
  const systemd = new SystemdNotifier(log);
  const stopped = new Promise<string>((resolve) => {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => resolve(signal));
  });
  let reloading = Promise.resolve();
  const onHangup = (): void => {
    reloading = reloading.then(async () => {
      systemd.send(`RELOADING=1\nMONOTONIC_USEC=${process.hrtime.bigint() / 1000n}`);
      try {
        // a bad file is refused as a whole and the running configuration kept
        const next = loadConfig(ctx.globals.config === undefined ? {} : { file: ctx.globals.config, explicit: true });
        const restarted = await daemon.reload(next);
        log.info(
          { event: 'daemon.reloaded', restarted },
          restarted.length ? `configuration reloaded; restarted: ${restarted.join(', ')}` : 'configuration reloaded; nothing changed',
        );
      } catch (err) {
        log.error(
          {
            event: 'daemon.reload_refused',
            err: (err as Error).message,
            code: (err as { code?: string }).code,
            details: (err as { details?: unknown }).details,
          },
          `new configuration refused, the running one is kept: ${(err as Error).message}`,
        );
      }
      systemd.send('READY=1');
    });
  };
  process.on('SIGHUP', onHangup);
  try {
    await daemon.start();
    const health = daemon.health();
    systemd.send(`READY=1\nSTATUS=${health.status}${health.reasons.length ? `: ${health.reasons.join('; ')}` : ''}`);
    log.info({ event: 'daemon.ready', listeners: daemon.listeners, metrics: daemon.metricsAddress ?? null, status: health.status }, 'usmp-edge ready');
    const signal = await stopped;
    systemd.send('STOPPING=1');
    log.info({ event: 'daemon.stopping', signal }, 'stopping');
    await reloading;
  } finally {
    process.off('SIGHUP', onHangup);
    await daemon.stop();
    systemd.close();
  }
}
