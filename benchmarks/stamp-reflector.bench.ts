import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { readFileSync, rmSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { encodeSenderPacket } from '../src/measure/stamp/packets.js';
import { parseResponderCredentials } from '../src/responder/appliance-credentials.js';
import { enrolResponder } from '../test/fixtures/responder-keys.js';
import type { Benchmark, BenchRow } from './harness.js';

// What STAMP authenticated mode costs the responder: the reflector pinned to one core (taskset),
// loaded by this process on the other core as fast as the reflector answers, in each mode in the
// same run. Figures: replies a second, and the reflector's CPU time per reply from
// /proc/PID/stat (its whole process: sockets, event loop, HMACs).

const SECONDS = 4;
const CLK_TCK = 100;

async function startResponder(env: Record<string, string>): Promise<{ child: ChildProcess; port: number }> {
  const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
  const child = spawn(
    'taskset',
    ['-c', '1', process.execPath, cli, 'responder', '--bind', '127.0.0.1', '--stamp-port', '0', '--iperf-port', '15398', '--iperf-pool', '1'],
    {
      // the budgets per address and network are lifted: what is measured is the work per packet
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, USMP_EDGE_RESPONDER_STAMP_MAX_PPS_PER_PEER: '100000000', USMP_EDGE_RESPONDER_STAMP_MAX_PPS_PER_NETWORK: '100000000', ...env },
    },
  );
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGTERM');
      reject(new Error('responder did not start in 15 s'));
    }, 15_000);
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (line.includes('responder ready')) {
        clearTimeout(timer);
        resolve((JSON.parse(line) as { stamp_port: number }).stamp_port);
      }
    });
    child.once('exit', () => reject(new Error('responder exited')));
  });
  return { child, port };
}

function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8')
    .replace(/^.*\) /, '')
    .split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK; // utime + stime [proc(5)]
}

/** Keeps up to `window` requests in flight for SECONDS; returns replies and the reflector's CPU seconds. */
async function load(port: number, packet: Buffer, pid: number): Promise<{ replies: number; cpu: number; seconds: number }> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
  let replies = 0;
  let inFlight = 0;
  const window = 64; // below the socket buffer, so the kernel drops nothing and the reflector never idles
  const send = (): void => {
    while (inFlight < window) {
      inFlight++;
      socket.send(packet, port, '127.0.0.1');
    }
  };
  socket.on('message', () => {
    replies++;
    inFlight--;
    send();
  });
  // lost requests would shrink the window for good: top it up every 50 ms
  const refill = setInterval(() => {
    inFlight = 0;
    send();
  }, 50);
  const cpu0 = cpuSeconds(pid);
  const t0 = process.hrtime.bigint();
  send();
  await new Promise((resolve) => setTimeout(resolve, SECONDS * 1000));
  clearInterval(refill);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = cpuSeconds(pid) - cpu0;
  socket.close();
  return { replies, cpu, seconds };
}

const bench: Benchmark = {
  name: 'stamp-reflector',
  title: 'STAMP reflector: replies a second on one core, unauthenticated and authenticated (HMAC-SHA-256)',
  unavailable: () => (process.platform !== 'linux' ? 'needs Linux (taskset, /proc)' : undefined),
  async run(log) {
    const keys = enrolResponder('bench');
    const credentials = parseResponderCredentials(readFileSync(keys.credentialsFile, 'utf8'), keys.credentialsFile);
    const rows: BenchRow[] = [];
    try {
      const cases = [
        [
          'unauthenticated (responder.auth open), 44-octet requests',
          { USMP_EDGE_RESPONDER_AUTH: 'open' },
          encodeSenderPacket({ seq: 1, timestampNs: 1n, errorEstimate: 1, ssid: 1 }, 44),
        ],
        [
          'authenticated (responder.auth required), 112-octet requests',
          { ...keys.responderEnv, USMP_EDGE_RESPONDER_AUTH: 'required' },
          encodeSenderPacket({ seq: 1, timestampNs: 1n, errorEstimate: 1, ssid: 0 }, 44, credentials.stamp),
        ],
        [
          'authenticated, with Class of Service and HMAC TLVs (140 octets)',
          { ...keys.responderEnv, USMP_EDGE_RESPONDER_AUTH: 'required' },
          encodeSenderPacket({ seq: 1, timestampNs: 1n, errorEstimate: 1, ssid: 0, cos: { dscp: 46, ecn: 0 } }, 44, credentials.stamp),
        ],
      ] as const;
      for (const [label, env, packet] of cases) {
        const { child, port } = await startResponder(env);
        try {
          await load(port, packet, child.pid!); // warm-up: JIT, socket buffers
          const r = await load(port, packet, child.pid!);
          const pps = r.replies / r.seconds;
          log(`${label}: ${pps.toFixed(0)} replies/s, reflector CPU ${((100 * r.cpu) / r.seconds).toFixed(0)} %`);
          rows.push({
            group: 'reflector',
            case: label,
            tool: 'usmp-edge responder',
            figures: {
              replies_per_s: Math.round(pps),
              reflector_cpu_pct: Math.round((100 * r.cpu) / r.seconds),
              cpu_us_per_reply: Number(((r.cpu / r.replies) * 1e6).toFixed(1)),
            },
          });
        } finally {
          child.kill('SIGTERM');
          await new Promise((resolve) => child.once('exit', resolve));
        }
      }
    } finally {
      rmSync(keys.dir, { recursive: true, force: true });
    }
    return {
      rows,
      notes: [
        `The reflector runs alone on core 1 (taskset -c 1); the load comes from core 0 with 64 requests in flight, for ${SECONDS} s after a warm-up of as long.`,
        'No independent STAMP reflector can be installed here (stamp-suite needs crates.io, twampy is not packaged): the two modes are the side-by-side comparison.',
        "At the monitor's 12 probes a second per appliance, one core serves the figure above ÷ 12 appliances.",
      ],
    };
  },
};

export default bench;
