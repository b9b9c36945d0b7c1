import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UsmpError } from '../../errors.js';
import type { IperfCredential } from '../../responder/appliance-credentials.js';
import { systemRunner, type ProcessRunner } from '../../exec/process-runner.js';
import { extractJson, parseThroughput, type TestDirection, type ParsedThroughput } from './parse.js';

// Runs Debian's iperf3 as a client against the responder's pool of servers.
// Pitfalls handled here (iperf3 3.12, Debian 12): exit 0 with -J on failure (read the
// "error" key), one test per server ("busy": try the next port of the pool), a UDP test whose
// single set-up datagram is lost hangs ~30 s then fails (retry), and UDP size/rate always set.

export interface ThroughputOptions {
  target: string;
  /** The responder's iperf3 ports, tried in order when one is busy. */
  ports: readonly number[];
  direction: TestDirection;
  protocol: 'tcp' | 'udp';
  durationS: number;
  omitS?: number;
  udpRateMbps?: number;
  /** UDP datagram payload; explicit, never iperf3's MTU guess (32 KB on loopback). */
  udpLengthBytes?: number;
  /** DSCP of the test traffic (iperf3 --dscp; not applied to the control connection, #889). */
  dscp?: number;
  runner?: ProcessRunner;
  signal?: AbortSignal;
  udpRetries?: number;
  /** Parallel TCP streams (iperf3 -P), e.g. to saturate a link as a bulk download does. */
  parallel?: number;
  /**
   * TCP congestion control of both ends (iperf3 -C; the client passes it to the server, which
   * sets it on its own sockets too). Unset: each end's default — never for a load (load-model.ts).
   */
  congestionControl?: string;
  /** The appliance's iperf3 credentials at a responder that asks for them (responder.auth). */
  credential?: IperfCredential;
}

export interface ThroughputResult extends ParsedThroughput {
  direction: TestDirection;
  protocol: 'tcp' | 'udp';
  duration_s: number;
  port: number;
  attempts: number;
}

const BUSY = /busy/i;
const REFUSED = /unable to connect|connection refused/i;
const UNREACHABLE = /no route to host|network is unreachable|host is unreachable|name or service not known|unknown host/i;
const CONGESTION_REFUSED = /TCP_CONGESTION/;
const AUTH_REFUSED = /authoriz|authentic/i;
const SERVER_CLOSED = /control socket has closed unexpectedly/i;
const UDP_SETUP_LOST = /unable to read from stream socket|unable to receive|control socket has closed unexpectedly|timed out/i;

export function iperfArgs(options: ThroughputOptions, port: number): string[] {
  const argv = [
    'iperf3',
    '-c',
    options.target,
    '-p',
    String(port),
    '-J',
    '--get-server-output',
    '--connect-timeout',
    '3000',
    '-t',
    String(options.durationS),
    '-O',
    String(options.omitS ?? 0),
  ];
  if (options.direction === 'down') argv.push('-R');
  if (options.direction === 'bidir') argv.push('--bidir');
  if (options.protocol === 'udp') {
    argv.push('-u', '-b', `${options.udpRateMbps ?? 1}M`, '-l', String(options.udpLengthBytes ?? 1200));
  }
  if (options.dscp !== undefined) argv.push('--dscp', String(options.dscp));
  if (options.parallel !== undefined && options.parallel > 1) argv.push('-P', String(options.parallel));
  if (options.protocol === 'tcp' && options.congestionControl !== undefined) argv.push('-C', options.congestionControl);
  return argv;
}

export async function runThroughput(options: ThroughputOptions): Promise<ThroughputResult> {
  if (!options.credential) return runAttempts(options, undefined);
  // iperf3 takes the responder's public key from a file and the password from its environment
  // (iperf3(1), IPERF3_PASSWORD): never on a command line others can read in /proc.
  const dir = mkdtempSync(join(tmpdir(), 'usmp-edge-iperf3-'));
  try {
    const keyFile = join(dir, 'responder-rsa-public.pem');
    writeFileSync(keyFile, options.credential.rsaPublicKeyPem, { mode: 0o600 });
    return await runAttempts(options, { keyFile, credential: options.credential });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function runAttempts(options: ThroughputOptions, auth: { keyFile: string; credential: IperfCredential } | undefined): Promise<ThroughputResult> {
  const runner = options.runner ?? systemRunner;
  const retries = options.udpRetries ?? 2;
  let attempts = 0;
  let portIndex = 0;
  let udpFailures = 0;
  for (;;) {
    const port = options.ports[portIndex];
    if (port === undefined) {
      throw new UsmpError('USMP_E_IPERF_FAILED', `all ${options.ports.length} iperf3 servers of ${options.target} are busy with other tests`, {
        hint: 'another auditor is measuring this responder; wait a minute and run again, or give the responder a larger pool (responder.iperf_pool_size)',
      });
    }
    attempts++;
    const argv = [...iperfArgs(options, port), ...(auth ? ['--username', auth.credential.username, '--rsa-public-key-path', auth.keyFile] : [])];
    const outcome = await runner.run({
      argv,
      timeoutMs: (options.durationS + (options.omitS ?? 0) + 45) * 1000,
      ...(options.signal ? { signal: options.signal } : {}),
      ...(auth ? { env: { ...process.env, IPERF3_PASSWORD: auth.credential.password } } : {}),
    });
    if (options.signal?.aborted) throw new UsmpError('USMP_E_ABORTED', 'throughput test interrupted');
    if (outcome.timedOut) {
      throw new UsmpError('USMP_E_MEASUREMENT_TIMEOUT', `iperf3 to ${options.target}:${port} did not finish in time`);
    }
    const json = extractJson(outcome.stdout);
    const error = json?.error ?? (json ? undefined : outcome.stderr.trim() || `iperf3 exited ${String(outcome.code)} without a result`);
    if (!error && json) {
      const parsed = parseThroughput(json, options.direction, options.protocol === 'udp');
      checkCongestionControl(options, parsed);
      return { ...parsed, direction: options.direction, protocol: options.protocol, duration_s: options.durationS, port, attempts };
    }
    const message = error ?? 'unknown iperf3 failure';
    if (CONGESTION_REFUSED.test(message)) throw congestionRefused(options, message);
    if (BUSY.test(message)) {
      portIndex++;
      continue;
    }
    if (options.protocol === 'udp' && UDP_SETUP_LOST.test(message) && udpFailures < retries) {
      udpFailures++;
      continue;
    }
    if (AUTH_REFUSED.test(message)) {
      throw new UsmpError('USMP_E_RESPONDER_CREDENTIALS', `the iperf3 server at ${options.target}:${port} refused this appliance: ${message}`, {
        hint: options.credential
          ? 'the responder does not know these credentials (revoked, or enrolled on another responder), or the clocks differ by more than 10 s; enrol the appliance again (usmp-edge responder-keys enroll) and check NTP'
          : 'this responder asks for credentials: enrol the appliance on it (usmp-edge responder-keys enroll NAME --out FILE) and name the file in qualify.responder_credentials_file',
      });
    }
    if (UNREACHABLE.test(message)) {
      throw new UsmpError('USMP_E_TARGET_UNREACHABLE', `iperf3 cannot reach ${options.target}:${port}: ${message}`);
    }
    if (REFUSED.test(message)) {
      throw new UsmpError('USMP_E_RESPONDER_ABSENT', `no iperf3 server answers at ${options.target}:${port} (${message})`);
    }
    throw new UsmpError('USMP_E_IPERF_FAILED', `iperf3 to ${options.target}:${port} failed: ${message}`, {
      ...(options.congestionControl !== undefined && SERVER_CLOSED.test(message)
        ? {
            hint: `the responder's iperf3 server ended the test; a host that does not allow ${options.congestionControl} (net.ipv4.tcp_allowed_congestion_control) does so, and its responder says it at start`,
          }
        : {}),
    });
  }
}

function congestionRefused(options: ThroughputOptions, message: string): UsmpError {
  return new UsmpError(
    'USMP_E_CONGESTION_CONTROL',
    `TCP congestion control ${options.congestionControl ?? '?'} refused for the load to ${options.target}: ${message}`,
    {
      hint: `allow it on this appliance and on the responder's host (as root: modprobe tcp_${options.congestionControl ?? 'cubic'}; add it to net.ipv4.tcp_allowed_congestion_control), or name another in load.congestion_control`,
    },
  );
}

/** Both ends must have run the congestion control asked for: a load that silently fell back measures another link. */
function checkCongestionControl(options: ThroughputOptions, parsed: ParsedThroughput): void {
  const wanted = options.congestionControl;
  const seen = parsed.congestion;
  if (options.protocol !== 'tcp' || wanted === undefined || !seen) return;
  for (const end of [seen.sender, seen.receiver]) {
    if (end !== undefined && end !== wanted)
      throw congestionRefused(options, `an end ran ${end} (sender ${seen.sender ?? '?'}, receiver ${seen.receiver ?? '?'})`);
  }
}
