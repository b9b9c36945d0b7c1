import { Option, type Command } from 'commander';
import { UsmpError } from '../../errors.js';
import { runThroughput } from '../../measure/iperf3/client.js';
import type { TestDirection } from '../../measure/iperf3/parse.js';
import { summariseLatency } from '../../measure/stamp/metrics.js';
import { DEFAULT_STAMP_PORT } from '../../measure/stamp/packets.js';
import { runStampSession } from '../../measure/stamp/sender.js';
import { holdForMeasurement } from './measurement-timing.js';
import { iperfAuth, stampAuth } from '../../qualify/steps.js';
import { credentialsField } from '../../responder/appliance-credentials.js';
import type { CliContext } from '../context.js';
import { EXIT, reportError } from '../output.js';
import { integerIn, port, positiveNumber } from './options.js';

export function registerProbeCommands(program: Command, context: () => CliContext, setExit: (code: number) => void): void {
  const probe = program.command('probe').description('single measurements against a responder');

  probe
    .command('latency')
    .description('STAMP round trips: RTT, delay variation (IPDV, PDV), loss, duplicates, reordering')
    .requiredOption('--target <host>', 'responder address')
    .option('--port <n>', 'STAMP port', port, DEFAULT_STAMP_PORT)
    .option('--count <n>', 'probes to send', integerIn(1, 1_000_000), 500)
    .option('--interval-ms <n>', 'time between probes', positiveNumber, 20)
    .option('--size <n>', 'probe size in octets (44..1472)', integerIn(44, 1472), 44)
    .option('--json', 'print one JSON document on stdout')
    .action(async (o: { target: string; port: number; count: number; intervalMs: number; size: number; json?: boolean }) => {
      const ctx = context();
      try {
        const timing = holdForMeasurement(ctx.logger(2));
        const session = await runStampSession({
          ...stampAuth(credentialsField(ctx.config().secrets)),
          target: o.target,
          port: o.port,
          count: o.count,
          intervalMs: o.intervalMs,
          size: o.size,
          signal: interruptSignal(),
        }).finally(() => timing.release());
        const s = summariseLatency(session);
        if (s.received === 0) {
          throw new UsmpError('USMP_E_RESPONDER_ABSENT', `no STAMP reply from ${o.target}:${o.port} (${s.sent} probes sent)`, {
            hint:
              session.badHmac > 0
                ? "the replies are not signed with this appliance's key: use the credentials file its last enrolment at this responder wrote"
                : 'start `usmp-edge responder` there and allow UDP to its STAMP port; a responder with responder.auth required answers only enrolled appliances (qualify.responder_credentials_file)',
          });
        }
        if (o.json) ctx.out.json(s);
        ctx.out.say(
          `${s.received}/${s.sent} replies, loss ${s.loss_pct} %, RTT min/median/mean/p99/max ${s.rtt_ms.min}/${s.rtt_ms.median}/${s.rtt_ms.mean}/${s.rtt_ms.p99}/${s.rtt_ms.max} ms, IPDV mean ${s.ipdv_ms.mean} ms, PDV p99 ${s.pdv_ms.p99} ms, ${s.duplicates} duplicates, ${s.reordered} reordered`,
        );
        setExit(EXIT.OK);
      } catch (err) {
        setExit(reportError(err, ctx.out, o.json === true));
      }
    });

  probe
    .command('throughput')
    .description('iperf3 against the responder; receiver-side figures')
    .requiredOption('--target <host>', 'responder address')
    .addOption(new Option('--direction <d>', 'up (to the hospital), down, or both at once').choices(['up', 'down', 'bidir']).makeOptionMandatory())
    .option('--port <n>', 'first iperf3 port of the responder', integerIn(1, 65535), 5201)
    .option('--pool <n>', 'iperf3 ports to try when one is busy', integerIn(1, 64), 4)
    .option('--duration <s>', 'seconds measured (after a 2 s warm-up for TCP)', integerIn(1, 3600), 10)
    .option('--udp-rate <mbps>', 'UDP at this rate instead of TCP (1200-octet datagrams)', positiveNumber)
    .option('--json', 'print one JSON document on stdout')
    .action(async (o: { target: string; direction: TestDirection; port: number; pool: number; duration: number; udpRate?: number; json?: boolean }) => {
      const ctx = context();
      try {
        const udp = o.udpRate !== undefined;
        const r = await runThroughput({
          ...iperfAuth(credentialsField(ctx.config().secrets)),
          target: o.target,
          ports: Array.from({ length: o.pool }, (_, i) => o.port + i),
          direction: o.direction,
          protocol: udp ? 'udp' : 'tcp',
          durationS: o.duration,
          omitS: udp ? 0 : 2,
          ...(udp ? { udpRateMbps: o.udpRate! } : {}),
          signal: interruptSignal(),
        });
        const doc: Record<string, unknown> = { direction: r.direction, protocol: r.protocol, duration_s: r.duration_s };
        if (r.up) doc['up_mbps'] = round(r.up.mbps);
        if (r.down) doc['down_mbps'] = round(r.down.mbps);
        const retransmits = (r.up?.retransmits ?? 0) + (r.down?.retransmits ?? 0);
        if (!udp) doc['retransmits'] = retransmits;
        const f = r.up ?? r.down;
        if (udp && f?.loss_pct !== undefined) doc['loss_pct'] = round(f.loss_pct);
        if (udp && f?.jitter_ms !== undefined) doc['jitter_ms'] = round(f.jitter_ms);
        doc['cpu'] = r.cpu;
        doc['source'] = r.up?.source ?? r.down?.source;
        if (o.json) ctx.out.json(doc);
        ctx.out.say(
          `${o.direction}: ${r.up ? `up ${round(r.up.mbps)} Mbit/s ` : ''}${r.down ? `down ${round(r.down.mbps)} Mbit/s ` : ''}(${r.protocol}, ${r.duration_s} s, receiver side)`,
        );
        setExit(EXIT.OK);
      } catch (err) {
        setExit(reportError(err, ctx.out, o.json === true));
      }
    });
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

/** Ctrl-C / SIGTERM abort the measurement; its children are stopped by the engines. */
export function interruptSignal(): AbortSignal {
  const controller = new AbortController();
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => controller.abort());
  return controller.signal;
}
