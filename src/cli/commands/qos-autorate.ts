import { Option, type Command } from 'commander';
import type { QosBackend } from '../../qos/backend.js';
import { resolveTarget } from '../../measure/stamp/sender.js';
import { LinkProber } from '../../monitor/link-prober.js';
import { AutorateRunner } from '../../qos/autorate/runner.js';
import { autorateSettings } from '../../qos/autorate/settings.js';
import { policyFromConfig } from '../../qos/factory.js';
import { configuredCredentials } from '../../responder/appliance-credentials.js';
import { UsmpError } from '../../errors.js';
import type { CliContext } from '../context.js';
import { EXIT } from '../output.js';

// usmp-edge qos autorate: runs until stopped (usmp-edge-qos-autorate.service), the shaped
// rates following the link. The policy must be in force (usmp-edge-qos.service applied it).

export async function runAutorate(ctx: CliContext, backend: QosBackend, signal: AbortSignal): Promise<number> {
  const config = ctx.config();
  const q = config.values.qos;
  if (!q.autorate.enabled)
    throw new UsmpError('USMP_E_CONFIG_INVALID', 'qos.autorate.enabled is false', {
      hint: 'set qos.autorate.enabled to true (and check it with usmp-edge config check)',
    });
  const targetName = q.check_target || config.values.monitor.target || config.values.qualify.target;
  if (!targetName) throw new UsmpError('USMP_E_CONFIG_INVALID', 'autorate needs a responder to probe', { hint: 'set monitor.target (or qos.check_target)' });
  const target = await resolveTarget(targetName);
  const policy = policyFromConfig(config);
  const settings = autorateSettings(q.autorate, policy);
  const credentials = configuredCredentials(config.secrets);
  const log = ctx.logger(2);
  const runner = new AutorateRunner({
    backend,
    policy,
    settings,
    stateDir: q.state_dir,
    log,
    prober: (onWindow, onError) =>
      new LinkProber({
        target,
        port: q.check_port,
        windowMs: q.autorate.window_ms,
        probesPerSecond: q.autorate.probes_per_s,
        readsReplyDscp: false,
        ...(credentials ? { credential: credentials.stamp } : {}),
        onWindow,
        onError,
      }),
  });
  await runner.start();
  await new Promise<void>((resolve) => (signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve(), { once: true })));
  await runner.stop();
  log.info(
    { event: 'qos.autorate.stopped', rates_mbps: runner.rates },
    `autorate stopped at ${runner.rates.up}/${runner.rates.down} Mbit/s (up/down); the rates stay as they are`,
  );
  return EXIT.OK;
}

export function registerAutorate(
  qos: Command,
  withBackend: (action: (ctx: CliContext, backend: QosBackend) => Promise<number>) => (o: object) => Promise<void>,
): void {
  qos
    .command('autorate')
    .description('let the shaped rates follow the link until stopped (SIGTERM): down on a queue beyond us, up while loaded and calm')
    .addOption(new Option('--backend <name>', 'where the policy is enforced (default: qos.backend)').choices(['linux', 'routeros']))
    .action(
      withBackend(async (ctx, backend) => {
        const stop = new AbortController();
        const onSignal = (): void => stop.abort();
        process.once('SIGTERM', onSignal);
        process.once('SIGINT', onSignal);
        try {
          return await runAutorate(ctx, backend, stop.signal);
        } finally {
          process.removeListener('SIGTERM', onSignal);
          process.removeListener('SIGINT', onSignal);
        }
      }),
    );
}
