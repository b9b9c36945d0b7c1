import { spawn } from 'node:child_process';
import { createConnection } from 'node:net';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { DecorrelatedJitter } from '../bridge/backoff.js';
import { terminateChild } from '../exec/terminate.js';
import type { Logger } from '../log/logger.js';
import type { HelperLine } from '../monitor/rtp/capture-helper.js';
import { CallTracker, type CallRecord, type CallTrackerOptions } from '../monitor/calls/call-tracker.js';
import { CallLedger } from '../monitor/calls/call-ledger.js';

// Passive call quality in the daemon: the capture helper (`usmp-edge
// capture-helper`, the only process with CAP_NET_RAW) is started, watched and restarted with
// backoff when it dies; its RTP headers feed the per-SSRC analysis here, without privilege.
// Installed under systemd the daemon holds no capability at all: it connects to the socket of
// usmp-edge-capture.socket instead, whose per-connection helper unit alone has CAP_NET_RAW.
// The lines are the same; the connection closing is the helper dying. The streams are grouped
// into calls (monitor/calls/): each call that ends is logged as `call.ended` with its quality,
// counted, and handed to `onCall` (the hourly telemetry).

/** One running helper, whichever way it was started. */
interface HelperHandle {
  lines: Readable;
  pid: number | undefined;
  onEnd(listener: (reason: string, stderr: string) => void): void;
  stop(): Promise<void>;
}

export type PartStatus = 'starting' | 'running' | 'restarting' | 'failed' | 'stopped' | 'disabled';

export interface CaptureServiceOptions {
  /** argv of the helper: [node, cli.js, 'capture-helper', …]; a test or a unit may wrap it. */
  argv: string[];
  /** Unix socket of the capture helper unit: when set, connect there instead of spawning. */
  socketPath?: string;
  iface: string;
  filter: string;
  clockRates: Record<number, number>;
  idleMs: number;
  /** Calls shorter than this are attempts. */
  minCallMs: number;
  isStation: (address: string) => boolean;
  /** The monitor's latest RTT to the hospital, for the E-model's delay. */
  rttMs: () => number | undefined;
  onCall?: (call: CallRecord) => void;
  expectedDscp?: CallTrackerOptions['expectedDscp'];
  log: Logger;
  now?: () => number;
}

export class CaptureService {
  readonly #o: CaptureServiceOptions;
  readonly calls: CallTracker;
  readonly ledger = new CallLedger();
  readonly #backoff = new DecorrelatedJitter(1000, 30_000);
  #helper: HelperHandle | undefined;
  #restartTimer: NodeJS.Timeout | undefined;
  #idleTimer: NodeJS.Timeout | undefined;
  #stopping = false;
  status: PartStatus = 'stopped';
  lastError: string | undefined;
  restarts = 0;
  lastStats: { received: number; dropped: number } | undefined;

  constructor(options: CaptureServiceOptions) {
    this.#o = options;
    this.calls = new CallTracker({
      minCallMs: options.minCallMs,
      idleMs: options.idleMs,
      isStation: options.isStation,
      clockRates: options.clockRates,
      rttMs: options.rttMs,
      ...(options.expectedDscp ? { expectedDscp: options.expectedDscp } : {}),
    });
  }

  #now(): number {
    return this.#o.now?.() ?? Date.now();
  }

  get pid(): number | undefined {
    return this.#helper?.pid;
  }

  start(): void {
    this.#stopping = false;
    this.#spawn();
    this.#idleTimer = setInterval(() => this.#endIdle(), Math.min(5000, this.#o.idleMs)).unref();
  }

  /** A call is in progress when a stream had a packet in the last 5 s. */
  callInProgress(now = this.#now()): boolean {
    return this.calls.inProgress(now, 5000).length > 0;
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    clearTimeout(this.#restartTimer);
    clearInterval(this.#idleTimer);
    await this.#helper?.stop();
    for (const call of this.calls.endAll()) this.#ended(call); // the calls seen so far are not lost
    this.status = 'stopped';
  }

  #spawn(): void {
    this.status = this.restarts === 0 ? 'starting' : 'restarting';
    const helper = this.#o.socketPath ? this.#connect(this.#o.socketPath) : this.#spawnChild();
    this.#helper = helper;
    createInterface({ input: helper.lines }).on('line', (line) => this.#line(line));
    helper.onEnd((reason, stderr) => {
      if (this.#stopping) return;
      this.lastError = `capture helper ended (${reason})${stderr ? `: ${stderr.trim().split('\n').at(-1)}` : ''}`;
      this.status = 'restarting';
      this.restarts++;
      const delay = this.#backoff.next();
      this.#o.log.error(
        { event: 'capture.helper_died', pid: helper.pid, reason, restart_in_ms: delay, err: this.lastError },
        'the capture helper died; restarting it',
      );
      this.#restartTimer = setTimeout(() => this.#spawn(), delay);
    });
  }

  #spawnChild(): HelperHandle {
    const [command, ...args] = this.#o.argv;
    const child = spawn(command!, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
    child.once('error', (err) => (this.lastError = err.message));
    return {
      lines: child.stdout,
      pid: child.pid,
      onEnd: (listener) => child.once('exit', (code, signal) => listener(signal ?? `exit ${code}`, stderr)),
      stop: () => terminateChild(child, 3000),
    };
  }

  #connect(path: string): HelperHandle {
    const socket = createConnection(path);
    socket.on('connect', () => socket.write(`${JSON.stringify({ iface: this.#o.iface, filter: this.#o.filter })}\n`));
    let failure = '';
    socket.on('error', (err) => (failure = `${(err as NodeJS.ErrnoException).code ?? 'error'} on ${path}`));
    return {
      lines: socket,
      pid: undefined,
      onEnd: (listener) => socket.once('close', () => listener(failure || 'socket closed', '')),
      stop: async () => {
        if (socket.destroyed) return;
        const closed = new Promise((r) => socket.once('close', r));
        socket.destroy();
        await closed;
      },
    };
  }

  #line(line: string): void {
    let parsed: HelperLine;
    try {
      parsed = JSON.parse(line) as HelperLine;
    } catch {
      this.#o.log.warn({ event: 'capture.bad_line', bytes: line.length }, 'the capture helper wrote a line that is not JSON');
      return;
    }
    if ('rtp' in parsed) {
      this.calls.addRtp(parsed.rtp);
    } else if ('rtcp' in parsed) this.calls.addRtcp(parsed.rtcp);
    else if ('stats' in parsed) this.lastStats = parsed.stats;
    else if ('ready' in parsed) {
      this.status = 'running';
      this.#backoff.reset();
      this.#o.log.info({ event: 'capture.ready', pid: this.#helper?.pid, ...parsed.ready }, 'capture helper ready');
    }
  }

  #endIdle(): void {
    const now = this.#now();
    for (const call of this.calls.endIdle(now)) this.#ended(call);
  }

  #ended(call: CallRecord): void {
    this.ledger.add(call);
    const quality = call.mos !== undefined ? `MOS ${call.mos}, ` : '';
    this.#o.log.info(
      { event: 'call.ended', call },
      `${call.kind === 'call' ? 'call' : 'call attempt'} from ${call.station} to ${call.far_network} ended after ${call.duration_s} s: ${quality}${call.grade}`,
    );
    this.#o.onCall?.(call);
  }
}
