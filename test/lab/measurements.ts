import type { ChildProcess } from 'node:child_process';
import { ADDRESSES, LabError, type Lab, type Role } from '../../src/lab/lab.js';
import type { LinkDirection } from '../../src/lab/link-model.js';

// The reference tools, run plainly, as a person checking the lab by hand would: iperf3 for
// rate, ping for delay and loss. The lab self-test and the benchmarks use these.

const IPERF_PORT = 5201;

/** Starts `iperf3 -s` in the hospital namespace and resolves once it listens. */
export async function startIperfServer(lab: Lab, port = IPERF_PORT, role: Role = 'hospital'): Promise<ChildProcess> {
  const server = lab.spawn(role, ['iperf3', '-s', '-p', String(port), '--forceflush']);
  await new Promise<void>((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new LabError('iperf3 server did not start', ['iperf3', '-s'], seen)), 5_000);
    server.stdout?.on('data', (chunk: Buffer) => {
      seen += chunk.toString();
      if (seen.includes('Server listening')) {
        clearTimeout(timer);
        resolve();
      }
    });
    server.once('exit', () => {
      clearTimeout(timer);
      reject(new LabError('iperf3 server exited', ['iperf3', '-s'], seen));
    });
  });
  return server;
}

export interface TcpGoodput {
  mbps: number;
  retransmits: number;
  /** iperf3's own CPU use at each end, %: near 100 it, not the link, set the rate. */
  cpuPct: { local: number; remote: number };
}

/** The reference's congestion control, named so that the machine's default (BBR here) does not choose it. */
export const REFERENCE_CONGESTION_CONTROL = 'cubic';

/**
 * Plain iperf3 TCP, receiver-side goodput (sum_received), appliance ↔ hospital, after 2 s of
 * omitted slow start (without it an 8 Mbit/s run varies by ±5 % with its first loss event).
 */
export async function measureTcpGoodput(lab: Lab, direction: LinkDirection, seconds: number, port = IPERF_PORT): Promise<TcpGoodput> {
  const argv = [
    'iperf3',
    '-c',
    ADDRESSES.hospital,
    '-p',
    String(port),
    '-t',
    String(seconds),
    '-O',
    '2',
    '-C',
    REFERENCE_CONGESTION_CONTROL,
    '-J',
    ...(direction === 'down' ? ['-R'] : []),
  ];
  const { stdout } = await lab.exec('appliance', argv, { timeoutMs: (seconds + 17) * 1000 });
  const result = JSON.parse(stdout) as {
    error?: string;
    end: {
      sum_received: { bits_per_second: number };
      sum_sent: { retransmits?: number };
      cpu_utilization_percent?: { host_total: number; remote_total: number };
    };
  };
  if (result.error) throw new LabError(`iperf3 failed: ${result.error}`, argv);
  const cpu = result.end.cpu_utilization_percent;
  return {
    mbps: result.end.sum_received.bits_per_second / 1e6,
    retransmits: result.end.sum_sent.retransmits ?? 0,
    cpuPct: { local: cpu?.host_total ?? NaN, remote: cpu?.remote_total ?? NaN },
  };
}

export interface PingResult {
  transmitted: number;
  received: number;
  lossPct: number;
  rttMs: { min: number; mean: number; max: number; mdev: number };
  /** Every reply's RTT, in arrival order. */
  samplesMs: number[];
}

/** Plain `ping` from the appliance to the hospital (root may use sub-200 ms intervals). */
export async function measurePing(lab: Lab, count: number, intervalS: number, size = 56, tos = 0): Promise<PingResult> {
  const argv = ['ping', '-n', '-c', String(count), '-i', String(intervalS), '-s', String(size), '-Q', String(tos), '-W', '2', ADDRESSES.hospital];
  const { stdout } = await lab.exec('appliance', argv, { allowFailure: true, timeoutMs: (count * intervalS + 20) * 1000 });
  const counts = /(\d+) packets transmitted, (\d+) received/.exec(stdout);
  const rtt = /= ([\d.]+)\/([\d.]+)\/([\d.]+)\/([\d.]+) ms/.exec(stdout);
  if (!counts) throw new LabError('unexpected ping output', argv, stdout);
  const transmitted = Number(counts[1]);
  const received = Number(counts[2]);
  return {
    transmitted,
    received,
    lossPct: (100 * (transmitted - received)) / transmitted,
    rttMs: rtt ? { min: Number(rtt[1]), mean: Number(rtt[2]), max: Number(rtt[3]), mdev: Number(rtt[4]) } : { min: NaN, mean: NaN, max: NaN, mdev: NaN },
    samplesMs: [...stdout.matchAll(/ time=([\d.]+) ms/g)].map((match) => Number(match[1])),
  };
}

export interface UdpResult {
  offeredMbps: number;
  receivedMbps: number;
  lossPct: number;
  jitterMs: number;
}

/** Plain iperf3 UDP at a set rate with explicit datagram size; receiver-side figures. */
export async function measureUdp(lab: Lab, direction: LinkDirection, mbps: number, seconds: number, length = 1472, port = IPERF_PORT): Promise<UdpResult> {
  const argv = [
    'iperf3',
    '-c',
    ADDRESSES.hospital,
    '-p',
    String(port),
    '-u',
    '-b',
    `${mbps}M`,
    '-l',
    String(length),
    '-t',
    String(seconds),
    '-J',
    ...(direction === 'down' ? ['-R'] : []),
  ];
  const { stdout } = await lab.exec('appliance', argv, { timeoutMs: (seconds + 40) * 1000 });
  const result = JSON.parse(stdout) as {
    error?: string;
    end: { sum: { lost_percent: number; jitter_ms: number }; sum_received?: { bits_per_second: number } };
  };
  if (result.error) throw new LabError(`iperf3 failed: ${result.error}`, argv);
  return {
    offeredMbps: mbps,
    receivedMbps: (result.end.sum_received?.bits_per_second ?? NaN) / 1e6,
    lossPct: result.end.sum.lost_percent,
    jitterMs: result.end.sum.jitter_ms,
  };
}
