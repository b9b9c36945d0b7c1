import type { Command } from 'commander';
import { encodeErrorEstimate } from '../../measure/stamp/clock.js';
import { installAnnotation, reflectorRuleset, type Annotation } from '../../measure/stamp/dscp-annotation.js';
import { StampReflector } from '../../measure/stamp/reflector.js';
import { IperfServerPool } from '../../measure/iperf3/server-pool.js';
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
}

export function registerResponderCommand(program: Command, context: () => CliContext, setExit: (code: number) => void): void {
  program
    .command('responder')
    .description('the hospital side: a STAMP session-reflector and a pool of iperf3 servers, until stopped (SIGTERM/SIGINT)')
    .option('--bind <addr>', 'address to listen on (default: responder.bind)')
    .option('--stamp-port <n>', 'STAMP UDP port, 0 for any (default: responder.stamp_port, 862)', port)
    .option('--iperf-port <n>', 'first iperf3 TCP port (default: responder.iperf_port, 5201)', integerIn(1, 65535))
    .option('--iperf-pool <n>', 'number of iperf3 servers (default: responder.iperf_pool_size)', integerIn(1, 64))
    .option('--stateless', 'stateless reflector (copies the sender sequence numbers)')
    .action(async (flags: ResponderFlags) => {
      const ctx = context();
      try {
        await runResponder(ctx, flags);
        setExit(EXIT.OK);
      } catch (err) {
        setExit(reportError(err, ctx.out, false));
      }
    });
}

async function runResponder(ctx: CliContext, flags: ResponderFlags): Promise<void> {
  const config = ctx.config().values.responder;
  const log = ctx.logger(1).child({ module: 'responder' });
  const bind = flags.bind ?? config.bind;
  const reflector = new StampReflector({
    bind, port: flags.stampPort ?? config.stamp_port, mode: flags.stateless ? 'stateless' : (config.stamp_mode as 'stateless' | 'stateful'),
    maxSessions: config.stamp_max_sessions, maxPpsPerPeer: config.stamp_max_pps_per_peer,
    errorEstimate: encodeErrorEstimate({ synchronized: false, errorSeconds: 0.1 }), logger: log,
  });
  const pool = new IperfServerPool({ bind, firstPort: flags.iperfPort ?? config.iperf_port, size: flags.iperfPool ?? config.iperf_pool_size, maxMbps: config.iperf_max_mbps, logger: log });
  let annotation: Annotation | undefined;
  const stopped = new Promise<string>((resolve) => {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => resolve(signal));
  });
  try {
    const stamp = await reflector.start();
    const iperfPorts = await pool.start();
    const installed = await installAnnotation(`usmp_edge_reflector_${process.pid}`, reflectorRuleset(`usmp_edge_reflector_${process.pid}`, stamp.port));
    if ('unavailable' in installed) log.warn({ reason: installed.unavailable }, 'DSCP cannot be read or set here: Class-of-Service requests will be answered as not processed');
    else annotation = installed;
    const refusal = congestionControlRefusal(loadModelFrom(ctx.config().values).congestionControl);
    if (refusal) log.warn({ event: 'responder.congestion_control_refused' }, refusal);
    log.info({ bind, stamp_port: stamp.port, iperf_ports: iperfPorts, dscp: annotation !== undefined }, 'responder ready');
    const signal = await stopped;
    log.info({ signal, stamp: reflector.stats() }, 'responder stopping');
  } finally {
    await annotation?.remove();
    await pool.stop();
    await reflector.stop();
  }
}
