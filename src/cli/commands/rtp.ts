import type { Command } from 'commander';
import { UsmpError } from '../../errors.js';
import { runCaptureHelper } from '../../monitor/rtp/capture-helper.js';
import { readCaptureRequest } from '../../monitor/rtp/capture-request.js';
import { readCaptureFile } from '../../monitor/rtp/pcap-source.js';
import { CallTracker, type CallRecord } from '../../monitor/calls/call-tracker.js';
import { stationPredicate } from '../../monitor/calls/stations.js';
import { parseCidr, type Cidr } from '../../qos/addresses.js';
import { rtcpOf } from '../../monitor/rtp/rtcp-packet.js';
import { decodeUdpFrame, looksLikeRtcp, rtpOf } from '../../monitor/rtp/rtp-packet.js';
import { parseClockRates, RtpStreams, type RtpStreamSummary } from '../../monitor/rtp/rtp-streams.js';
import type { CliContext } from '../context.js';
import { EXIT, reportError } from '../output.js';

// usmp-edge rtp analyze FILE: the passive call-quality analysis of the daemon, on a capture
// file, so its figures can be set beside Wireshark's (`tshark -z rtp,streams`) on the same pcap.
// usmp-edge capture-helper: the process that alone holds CAP_NET_RAW (started by the daemon, or
// by the socket unit usmp-edge-capture.socket when installed).

interface AnalyzeFlags {
  filter: string;
  clockRate: string[];
  minCallS: string;
  idleS: string;
  stationNetwork: string[];
  json?: boolean;
}

function nonNegative(text: string, option: string): number {
  const n = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text) || !Number.isFinite(n)) throw new UsmpError('USMP_E_USAGE', `${option} ${text}: expected a number of seconds`);
  return n;
}

function stationNetworksOf(values: readonly string[]): Cidr[] {
  return values.map((v) => {
    const cidr = parseCidr(v);
    if (!cidr) throw new UsmpError('USMP_E_USAGE', `--station-network ${v}: expected an address or a prefix, e.g. 198.18.1.0/24`);
    return cidr;
  });
}

export function registerRtpCommands(program: Command, context: () => CliContext, setExit: (code: number) => void): void {
  const rtp = program.command('rtp').description('passive analysis of RTP (calls) from a capture');
  const analyze = rtp
    .command('analyze <file>')
    .description('per-stream RTP figures of a pcap file (packets, lost, jitter as RFC 3550 and Wireshark compute it, DSCP)')
    .option('--filter <bpf>', 'capture filter applied while reading', 'udp')
    .option(
      '--clock-rate <pt=hz>',
      'clock rate of a dynamic payload type, e.g. 96=90000 (repeatable)',
      (v: string, all: string[]) => [...all, v],
      [] as string[],
    )
    .option('--min-call-s <s>', 'calls shorter than this are counted as attempts', '60')
    .option('--idle-s <s>', 'a call with no packet for this long has ended', '30')
    .option(
      '--station-network <cidr>',
      "network of the unit's stations (repeatable); none: the first sender of each call",
      (v: string, all: string[]) => [...all, v],
      [] as string[],
    )
    .option('--json', 'print one JSON document on stdout');
  analyze.action(async (file: string) => {
    const ctx = context();
    const flags = analyze.opts<AnalyzeFlags>();
    try {
      const clockRates = parseClockRates(flags.clockRate);
      const streams = new RtpStreams({ clockRates });
      const networks = stationNetworksOf(flags.stationNetwork);
      const calls = new CallTracker({
        minCallMs: nonNegative(flags.minCallS, '--min-call-s') * 1000,
        idleMs: nonNegative(flags.idleS, '--idle-s') * 1000,
        isStation: stationPredicate(networks),
        clockRates,
      });
      const ended: CallRecord[] = [];
      const frames = await readCaptureFile(file, flags.filter, (f) => {
        const udp = decodeUdpFrame(f.linkType, f.frame, f.timeMs);
        if (!udp) return;
        if (looksLikeRtcp(udp.payload)) {
          const rtcp = rtcpOf(udp);
          if (rtcp) calls.addRtcp(rtcp);
          return;
        }
        const packet = rtpOf(udp);
        if (!packet) return;
        ended.push(...calls.endIdle(packet.timeMs));
        streams.add(packet);
        calls.addRtp(packet);
      });
      ended.push(...calls.endAll());
      const summaries = streams.summaries();
      if (flags.json) ctx.out.json({ file, frames, streams: summaries, calls: ended });
      else printStreams(ctx, file, frames, summaries, ended);
      setExit(EXIT.OK);
    } catch (err) {
      setExit(reportError(err, ctx.out, flags.json === true));
    }
  });

  program
    .command('capture-helper', { hidden: true })
    .description('capture RTP headers on an interface and write them as JSON lines (started by `usmp-edge run`, or per connection by usmp-edge-capture.socket)')
    .option('--iface <name>', 'interface to capture on')
    .option('--filter <bpf>', 'capture filter', 'udp')
    .option('--request-on-stdin', 'read {"iface", "filter"} as one JSON line on stdin, and end when stdin closes (socket-activated unit)')
    .action(async (opts: { iface?: string; filter: string; requestOnStdin?: boolean }) => {
      try {
        if (opts.requestOnStdin) {
          const request = await readCaptureRequest(process.stdin);
          runCaptureHelper(request.iface, request.filter, true);
        } else if (opts.iface) runCaptureHelper(opts.iface, opts.filter);
        else throw new UsmpError('USMP_E_USAGE', 'capture-helper needs --iface or --request-on-stdin');
      } catch (err) {
        setExit(reportError(err, context().out, false));
        process.exit(EXIT.ERROR);
      }
    });
}

function printStreams(ctx: CliContext, file: string, frames: number, streams: RtpStreamSummary[], calls: CallRecord[]): void {
  ctx.out.say(`${file}: ${frames} frames, ${streams.length} RTP stream(s)`);
  for (const s of streams) {
    const jitter =
      s.mean_jitter_ms === undefined
        ? 'jitter n/a (clock rate unknown: --clock-rate)'
        : `jitter mean ${s.mean_jitter_ms.toFixed(3)} ms, max ${s.max_jitter_ms!.toFixed(3)} ms`;
    const dscp = Object.entries(s.dscp)
      .map(([k, n]) => `${k}×${n}`)
      .join(' ');
    ctx.out.say(
      `  ${s.ssrc} ${s.src}:${s.src_port} → ${s.dst}:${s.dst_port} PT ${s.payload_type}: ${s.packets} packets, lost ${s.lost} (${s.lost_pct.toFixed(2)} %), ${jitter}, DSCP ${dscp}`,
    );
  }
  ctx.out.say(`${calls.filter((c) => c.kind === 'call').length} call(s), ${calls.filter((c) => c.kind === 'attempt').length} attempt(s)`);
  for (const c of calls) {
    const mos = c.mos !== undefined ? `MOS ${c.mos}, ` : '';
    ctx.out.say(`  ${c.kind} ${c.started_at} ${c.duration_s} s: ${c.station} ↔ ${c.far_network} (${c.media.join(', ')}), ${mos}${c.grade}`);
  }
}
