import { Option, type Command } from 'commander';
import type { BackendName, QosBackend } from '../../qos/backend.js';
import { confirmedApply } from '../../qos/confirmed-commit.js';
import { backendFromConfig, checkTarget, policyFromConfig } from '../../qos/factory.js';
import { diffObjects, formatDiff } from '../../qos/objects.js';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LAST_VERIFY_FILE } from '../../qos/report-section.js';
import { formatVerify, runQosVerify, type VerifyResult } from '../../qos/verify.js';
import { describeLinkLayer, type LinkLayer } from '../../qos/link-layer.js';
import { UsmpError } from '../../errors.js';
import { registerAutorate } from './qos-autorate.js';
import { describeAutorate, readAutorateFile } from '../../qos/autorate/state-file.js';
import type { CliContext } from '../context.js';
import { EXIT, reportError } from '../output.js';
import { integerIn } from './options.js';

// usmp-edge qos plan|apply|status|rollback|verify|autorate

interface QosOptions {
  backend?: BackendName;
  confirmTimeout?: number;
  json?: boolean;
}

/** Kept for the next qualification report's QoS section; a station without the state dir skips it. */
function recordVerify(ctx: CliContext, result: VerifyResult): void {
  const dir = ctx.config().values.qos.state_dir;
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeFileSync(join(dir, LAST_VERIFY_FILE), JSON.stringify({ at: new Date().toISOString(), ...result }, null, 2));
  } catch (err) {
    ctx.out.say(`qos verify: result not recorded in ${dir} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

export function registerQosCommands(program: Command, context: () => CliContext, setExit: (code: number) => void): void {
  const qos = program.command('qos').description('QoS for the telemedicine flow: plan, apply (confirmed commit), status, rollback, verify');
  const common = (cmd: Command): Command =>
    cmd
      .addOption(new Option('--backend <name>', 'where the policy is enforced (default: qos.backend)').choices(['linux', 'routeros']))
      .option('--json', 'print one JSON document on stdout');

  const withBackend = (action: (ctx: CliContext, backend: QosBackend, o: QosOptions) => Promise<number>) => async (o: QosOptions) => {
    const ctx = context();
    let backend: QosBackend | undefined;
    try {
      backend = await backendFromConfig(ctx.config(), o.backend);
      setExit(await action(ctx, backend, o));
    } catch (err) {
      setExit(reportError(err, ctx.out, o.json === true));
    } finally {
      await backend?.close().catch(() => undefined);
    }
  };

  common(qos.command('plan').description('dry run: the exact objects that apply would create, change or remove')).action(
    withBackend(async (ctx, backend, o) => {
      const diff = diffObjects(backend.desired(policyFromConfig(ctx.config())), await backend.current());
      if (o.json) ctx.out.json({ backend: backend.name, ...diff });
      for (const line of formatDiff(diff)) ctx.out.say(line);
      return EXIT.OK;
    }),
  );

  common(qos.command('apply').description('apply the policy; undone by itself unless the hospital stays reachable and traffic is classified'))
    .option('--confirm-timeout <s>', 'seconds before an unconfirmed change is undone (default: qos.confirm_timeout_s)', integerIn(5, 3600))
    .action(
      withBackend(async (ctx, backend, o) => {
        const policy = policyFromConfig(ctx.config());
        checkTarget(ctx.config()); // a change that cannot be confirmed is not started
        const outcome = await confirmedApply(backend, policy, {
          timeoutS: o.confirmTimeout ?? ctx.config().values.qos.confirm_timeout_s,
          log: ctx.logger(2),
          onStep: (step, detail) => ctx.out.say(`qos apply: ${step}: ${detail}`),
        });
        if (o.json) ctx.out.json({ backend: backend.name, ...outcome });
        if (!outcome.changed) ctx.out.say('qos apply: no change: the policy in force is the configured one');
        else for (const line of formatDiff(outcome.diff)) ctx.out.say(line);
        return EXIT.OK;
      }),
    );

  registerAutorate(qos, withBackend);

  common(qos.command('status').description('what of ours is in force, its counters, and any change awaiting confirmation')).action(
    withBackend(async (ctx, backend, o) => {
      const current = await backend.current();
      const armed = await backend.armed();
      const lastRollback = (await backend.lastRollback?.()) ?? null;
      const counters = await backend.counters();
      let inForce: 'none' | 'configured' | 'other' = current.length === 0 ? 'none' : 'other';
      let linkLayer: LinkLayer | undefined;
      try {
        const policy = policyFromConfig(ctx.config());
        linkLayer = policy.linkLayer;
        if (current.length > 0 && formatDiff(diffObjects(backend.desired(policy), current))[0]?.startsWith('no change')) inForce = 'configured';
      } catch (err) {
        if (!(err instanceof UsmpError)) throw err;
      }
      const q = ctx.config().values.qos;
      const autorate = q.autorate.enabled ? (readAutorateFile(q.state_dir) ?? null) : undefined;
      const status = {
        backend: backend.name,
        policy: inForce,
        objects: current.length,
        armed_until: armed?.deadline.toISOString() ?? null,
        last_rollback: lastRollback,
        link_layer: linkLayer ?? null,
        ...(autorate === undefined ? {} : { autorate }),
        counters,
      };
      if (o.json) ctx.out.json(status);
      ctx.out.say(
        `qos ${backend.name}: ${inForce === 'none' ? 'no policy of ours in force' : inForce === 'configured' ? 'the configured policy is in force' : 'a policy of ours is in force, different from the configuration'} (${current.length} objects)${armed ? `; change awaiting confirmation until ${armed.deadline.toISOString()}` : ''}`,
      );
      if (lastRollback)
        ctx.out.say(
          `  last roll-back: ${lastRollback.at} by the ${lastRollback.by === 'guard' ? 'roll-back guard' : 'command line'} (${lastRollback.reason})${lastRollback.ok ? '' : `, FAILED: ${lastRollback.error ?? 'unknown error'}; run usmp-edge qos rollback`}`,
        );
      if (linkLayer) ctx.out.say(`  link layer: ${describeLinkLayer(linkLayer)}`);
      if (autorate !== undefined) ctx.out.say(`  autorate: ${describeAutorate(autorate ?? undefined, new Date())}`);
      for (const [key, packets] of Object.entries(counters)) ctx.out.say(`  ${key}: ${packets} packets`);
      return EXIT.OK;
    }),
  );

  common(qos.command('rollback').description('restore the state from before the last change (or undo a change awaiting confirmation now)')).action(
    withBackend(async (ctx, backend, o) => {
      const done = await backend.rollbackLast();
      if (!done) throw new UsmpError('USMP_E_QOS_NOTHING_TO_ROLL_BACK', 'no earlier state is recorded');
      if (o.json) ctx.out.json({ backend: backend.name, rolled_back: true });
      ctx.out.say('qos rollback: the previous state is restored');
      return EXIT.OK;
    }),
  );

  common(qos.command('verify').description('prove the policy: saturate best effort both ways while a telemedicine-class flow runs at its committed rate'))
    .option('--class <name>', 'class whose flow is measured (default: the first class)')
    .option('--duration <s>', 'seconds of load', integerIn(5, 600), 20)
    .option('--port <n>', 'first iperf3 port of the responder', integerIn(1, 65535), 5201)
    .option('--policy-elsewhere', "run from a LAN station: the policy is enforced on this host's gateway, do not read it here")
    .action(async (o: QosOptions & { policyElsewhere?: boolean }) => {
      if (!o.policyElsewhere) return verifyWith(o);
      const ctx = context();
      try {
        setExit(await verifyAction(ctx, undefined, o));
      } catch (err) {
        setExit(reportError(err, ctx.out, o.json === true));
      }
    });
  const verifyWith = withBackend((ctx, backend, o) => verifyAction(ctx, backend, o));
}

interface VerifyFlags extends QosOptions {
  class?: string;
  duration: number;
  port: number;
}

async function verifyAction(ctx: CliContext, backend: QosBackend | undefined, flags: QosOptions): Promise<number> {
  const o = flags as VerifyFlags;
  const result = await runQosVerify({
    config: ctx.config(),
    policy: policyFromConfig(ctx.config()),
    backend,
    className: o.class,
    durationS: o.duration,
    iperfPort: o.port,
    onProgress: (line) => ctx.out.say(`qos verify: ${line}`),
  });
  if (o.json) ctx.out.json(result);
  for (const line of formatVerify(result)) ctx.out.say(line);
  recordVerify(ctx, result);
  return result.verdict === 'pass' ? EXIT.OK : EXIT.MEASURED_FAIL;
}
