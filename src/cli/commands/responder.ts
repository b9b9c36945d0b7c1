import type { Command } from 'commander';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeErrorEstimate } from '../../measure/stamp/clock.js';
import { installAnnotation, reflectorRuleset, type Annotation } from '../../measure/stamp/dscp-annotation.js';
import { StampReflector, type ReflectorStats } from '../../measure/stamp/reflector.js';
import type { StampKeyring } from '../../measure/stamp/authentication.js';
import { IperfServerPool } from '../../measure/iperf3/server-pool.js';
import { authorizedUsers, ensureIperfRsaKey, keyringOf, readResponderKeys } from '../../responder/responder-keys.js';
import { writeFileDurably } from '../../exec/durable-file.js';
import { systemRunner } from '../../exec/process-runner.js';
import { UsmpError } from '../../errors.js';
import type { CliContext } from '../context.js';
import { EXIT, reportError } from '../output.js';
import { integerIn, port } from './options.js';
import { congestionControlRefusal, loadModelFrom } from '../../measure/iperf3/load-model.js';

interface ResponderFlags {
  bind?: string;
  stampPort?: number;
  iperfPort?: number;
  iperfPool?: number;
  stateless?: boolean;
  dscpRulesInstalled?: boolean;
}

/** The DSCP rules' table when a privileged step of the unit installs them (responder-dscp). */
const UNIT_DSCP_TABLE = 'usmp_edge_reflector';

const STATS_EVERY_MS = 60_000;

export function registerResponderCommand(program: Command, context: () => CliContext, setExit: (code: number) => void): void {
  program
    .command('responder')
    .description(
      'the hospital side: a STAMP session-reflector and a pool of iperf3 servers, until stopped (SIGTERM/SIGINT); SIGHUP re-reads the enrolled appliances',
    )
    .option('--bind <addr>', 'address to listen on (default: responder.bind)')
    .option('--stamp-port <n>', 'STAMP UDP port, 0 for any (default: responder.stamp_port, 862)', port)
    .option('--iperf-port <n>', 'first iperf3 TCP port (default: responder.iperf_port, 5201)', integerIn(1, 65535))
    .option('--iperf-pool <n>', 'number of iperf3 servers (default: responder.iperf_pool_size)', integerIn(1, 64))
    .option('--stateless', 'stateless reflector (copies the sender sequence numbers)')
    .option('--dscp-rules-installed', "the DSCP rules are installed by `responder-dscp install` (the systemd unit's privileged step): do not install them")
    .action(async (flags: ResponderFlags) => {
      const ctx = context();
      try {
        await runResponder(ctx, flags);
        setExit(EXIT.OK);
      } catch (err) {
        setExit(reportError(err, ctx.out, false));
      }
    });

  const dscp = program
    .command('responder-dscp')
    .description(
      "install or remove the responder's nftables rules, DSCP and the responder.allow_from filter of its ports (needs CAP_NET_ADMIN): the systemd unit runs these as privileged steps around the responder",
    );
  for (const action of ['install', 'remove'] as const) {
    dscp
      .command(action)
      .description(`${action} the rules for responder.stamp_port`)
      .action(async () => {
        const ctx = context();
        try {
          if (action === 'remove') {
            await systemRunner.run({ argv: ['nft', 'delete', 'table', 'ip', UNIT_DSCP_TABLE], timeoutMs: 10_000 });
          } else {
            const r = ctx.config().values.responder;
            const filter = { iperfPorts: Array.from({ length: r.iperf_pool_size }, (_, i) => r.iperf_port + i), allowFrom: r.allow_from };
            const installed = await installAnnotation(UNIT_DSCP_TABLE, reflectorRuleset(UNIT_DSCP_TABLE, r.stamp_port, filter));
            if ('unavailable' in installed) throw new UsmpError('USMP_E_QOS_PRIVILEGE', `the DSCP rules cannot be installed: ${installed.unavailable}`);
          }
          setExit(EXIT.OK);
        } catch (err) {
          setExit(reportError(err, ctx.out, false));
        }
      });
  }
}

/** The enrolled appliances' STAMP keys, swapped whole when the key file is read again. */
class ReloadableKeyring implements StampKeyring {
  #current: StampKeyring = { keyFor: () => undefined };
  set(keyring: StampKeyring): void {
    this.#current = keyring;
  }
  keyFor(ssid: number): Buffer | undefined {
    return this.#current.keyFor(ssid);
  }
}

async function runResponder(ctx: CliContext, flags: ResponderFlags): Promise<void> {
  const config = ctx.config().values.responder;
  const log = ctx.logger(1).child({ module: 'responder' });
  const bind = flags.bind ?? config.bind;
  const mode = config.auth;
  const keyring = new ReloadableKeyring();
  // iperf3 reads its authorised users from a file: ours, private to this process, re-written on SIGHUP.
  const runtimeDir = mode === 'open' ? undefined : mkdtempSync(join(tmpdir(), 'usmp-edge-responder-'));
  const usersFile = runtimeDir ? join(runtimeDir, 'iperf3-users.csv') : undefined;
  const loadKeys = (): number => {
    const keys = readResponderKeys(config.keys_file);
    keyring.set(keyringOf(keys));
    if (usersFile) writeFileDurably(usersFile, authorizedUsers(keys), 0o600, 0o700);
    return keys.appliances.length;
  };
  try {
    // Before the first enrolment there is no RSA key: iperf3 gets a throw-away one, whose public
    // half nobody holds, so it refuses everyone, as it should (nothing is written outside runtimeDir).
    const rsaKeyFile = runtimeDir && !existsSync(config.iperf_rsa_key_file) ? join(runtimeDir, 'iperf3-rsa.pem') : config.iperf_rsa_key_file;
    if (runtimeDir && rsaKeyFile !== config.iperf_rsa_key_file) ensureIperfRsaKey(rsaKeyFile);
    const iperfAuth = usersFile ? { rsaPrivateKeyFile: rsaKeyFile, authorizedUsersFile: usersFile } : undefined;
    const enrolled = mode === 'open' ? 0 : loadKeys();
    if (mode !== 'open' && enrolled === 0)
      log.warn(
        { event: 'responder.no_appliance', keys_file: config.keys_file },
        'no appliance is enrolled: every authenticated measurement will be refused (usmp-edge responder-keys enroll NAME --out FILE)',
      );
    if (mode === 'open') log.warn({ event: 'responder.open' }, 'responder.auth is open: anyone who reaches it can use it');
    const reflector = new StampReflector({
      bind,
      port: flags.stampPort ?? config.stamp_port,
      mode: flags.stateless ? 'stateless' : config.stamp_mode,
      maxSessions: config.stamp_max_sessions,
      maxPpsPerPeer: config.stamp_max_pps_per_peer,
      maxPpsPerNetwork: config.stamp_max_pps_per_network,
      auth: { mode, keyring },
      allowFrom: config.allow_from,
      errorEstimate: encodeErrorEstimate({ synchronized: false, errorSeconds: 0.1 }),
      logger: log,
    });
    const pool = new IperfServerPool({
      bind,
      firstPort: flags.iperfPort ?? config.iperf_port,
      size: flags.iperfPool ?? config.iperf_pool_size,
      maxMbps: config.iperf_max_mbps,
      logger: log,
      ...(iperfAuth ? { auth: iperfAuth } : {}),
    });
    // After the first enrolment the real RSA key exists: the iperf3 servers restart on it.
    const reload = async (): Promise<number> => {
      const appliances = loadKeys();
      if (iperfAuth && iperfAuth.rsaPrivateKeyFile !== config.iperf_rsa_key_file && existsSync(config.iperf_rsa_key_file)) {
        iperfAuth.rsaPrivateKeyFile = config.iperf_rsa_key_file;
        await pool.restart();
      }
      return appliances;
    };
    await serve(ctx, log, reflector, pool, mode === 'open' ? undefined : reload, flags.dscpRulesInstalled === true, config.allow_from);
  } finally {
    if (runtimeDir) rmSync(runtimeDir, { recursive: true, force: true });
  }
}

async function serve(
  ctx: CliContext,
  log: ReturnType<CliContext['logger']>,
  reflector: StampReflector,
  pool: IperfServerPool,
  reload: (() => Promise<number>) | undefined,
  dscpRulesInstalled: boolean,
  allowFrom: readonly string[],
): Promise<void> {
  let annotation: Annotation | undefined;
  const stopped = new Promise<string>((resolve) => {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => resolve(signal));
  });
  let reloading = Promise.resolve();
  const onHup = (): void => {
    reloading = reloading.then(async () => {
      try {
        log.info({ event: 'responder.keys_reloaded', appliances: await reload!() }, 'enrolled appliances read again');
      } catch (err) {
        log.error(
          { event: 'responder.keys_reload_failed', err: (err as Error).message },
          'enrolled appliances could not be read again; the previous ones stay in force',
        );
      }
    });
  };
  if (reload) process.on('SIGHUP', onHup);
  let last: ReflectorStats | undefined;
  const statsTimer = setInterval(() => {
    const now = reflector.stats();
    if (last && droppedTotal(now) > droppedTotal(last))
      log.warn({ event: 'responder.stamp_dropped', stamp: now }, 'STAMP packets dropped since the last report');
    last = now;
  }, STATS_EVERY_MS);
  statsTimer.unref();
  try {
    const stamp = await reflector.start();
    const iperfPorts = await pool.start();
    if (!dscpRulesInstalled) {
      const filter = { iperfPorts, allowFrom };
      const installed = await installAnnotation(
        `usmp_edge_reflector_${process.pid}`,
        reflectorRuleset(`usmp_edge_reflector_${process.pid}`, stamp.port, filter),
      );
      if ('unavailable' in installed) {
        log.warn({ reason: installed.unavailable }, 'DSCP cannot be read or set here: Class-of-Service requests will be answered as not processed');
        if (allowFrom.length > 0)
          log.warn(
            { event: 'responder.iperf_unfiltered', reason: installed.unavailable },
            'responder.allow_from applies to STAMP only: the iperf3 servers cannot be filtered without CAP_NET_ADMIN (the systemd unit installs the filter)',
          );
      } else annotation = installed;
    }
    const refusal = congestionControlRefusal(loadModelFrom(ctx.config().values).congestionControl);
    if (refusal) log.warn({ event: 'responder.congestion_control_refused' }, refusal);
    log.info(
      { bind: reflector.bind, stamp_port: stamp.port, iperf_ports: iperfPorts, dscp: dscpRulesInstalled || annotation !== undefined, auth: reflector.authMode },
      'responder ready',
    );
    const signal = await stopped;
    log.info({ signal, stamp: reflector.stats() }, 'responder stopping');
  } finally {
    clearInterval(statsTimer);
    process.off('SIGHUP', onHup);
    await reloading;
    await annotation?.remove();
    await pool.stop();
    await reflector.stop();
  }
}

function droppedTotal(s: ReflectorStats): number {
  return (
    s.dropped_bad_hmac +
    s.dropped_unauthenticated +
    s.dropped_not_allowed +
    s.dropped_rate_limited +
    s.dropped_table_full +
    s.dropped_too_long +
    s.dropped_too_short
  );
}
