import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { UsmpError } from '../../errors.js';
import { terminateChild } from '../../exec/terminate.js';
import type { Logger } from '../../log/logger.js';

// The responder's iperf3 servers: one per port, so a second auditor gets the next port instead
// of "the server is busy" (iperf3 serves one test at a time by design, esnet/iperf #140).
// Each runs with -J so that clients' --get-server-output carries the receiver's intervals.
// A server that dies is restarted after a pause; stop() ends every one of them.

export interface ServerPoolOptions {
  bind: string;
  firstPort: number;
  size: number;
  /** --server-bitrate-limit: a test averaging more than this is ended by the server. */
  maxMbps?: number;
  logger?: Logger;
  restartDelayMs?: number;
  /** iperf3's own authentication (RSA-encrypted user and password, iperf3(1) "-s ... --authorized-users-path"). */
  auth?: { rsaPrivateKeyFile: string; authorizedUsersFile: string };
}

export class IperfServerPool {
  readonly #children = new Map<number, ChildProcess>();
  #stopping = false;

  constructor(readonly options: ServerPoolOptions) {}

  get ports(): number[] {
    return Array.from({ length: this.options.size }, (_, i) => this.options.firstPort + i);
  }

  async start(): Promise<number[]> {
    try {
      for (const port of this.ports) await this.#startOne(port);
    } catch (err) {
      await this.stop();
      throw err;
    }
    return this.ports;
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    await Promise.all([...this.#children.values()].map((child) => terminateChild(child)));
    this.#children.clear();
  }

  /** Ends every server and starts them again (with the options as they are now). */
  async restart(): Promise<void> {
    await this.stop();
    this.#stopping = false;
    await this.start();
  }

  async #startOne(port: number): Promise<void> {
    // Our readiness check looks for a listening socket: one that is already there is not ours.
    if (isListening(port)) {
      throw new UsmpError('USMP_E_PORT_UNAVAILABLE', `iperf3 server cannot listen on TCP ${port}: the port is in use by another program`, {
        hint: 'stop what holds the port, or choose another first port with --iperf-port',
      });
    }
    const child = spawn('iperf3', serverArgs(this.options, port), { stdio: ['ignore', 'pipe', 'pipe'] });
    this.#children.set(port, child);
    let output = '';
    child.stdout?.on('data', (c: Buffer) => {
      output = (output + c.toString()).slice(-4096);
    });
    child.stderr?.on('data', (c: Buffer) => {
      output = (output + c.toString()).slice(-4096);
    });
    const exited = new Promise<NodeJS.ErrnoException | number | null>((resolve) => {
      child.once('error', resolve);
      child.once('exit', resolve);
    });
    const listening = waitForListen(port, 3_000);
    const first = await Promise.race([exited.then((e) => ({ exited: e })), listening.then((ok) => ({ listening: ok }))]);
    if ('exited' in first) {
      this.#children.delete(port);
      const e = first.exited;
      if (e && typeof e === 'object' && e.code === 'ENOENT') {
        throw new UsmpError('USMP_E_DEPENDENCY_MISSING', 'iperf3 is not installed', { hint: 'apt-get install iperf3 (as root)' });
      }
      const why = /in use/i.test(output) ? 'the port is in use by another program' : (output.trim().split('\n').slice(-1)[0] ?? 'it exited');
      throw new UsmpError('USMP_E_PORT_UNAVAILABLE', `iperf3 server cannot listen on TCP ${port}: ${why}`, {
        hint: 'stop what holds the port, or choose another first port with --iperf-port',
      });
    }
    if (!first.listening) {
      await terminateChild(child);
      throw new UsmpError('USMP_E_PORT_UNAVAILABLE', `iperf3 server on TCP ${port} did not start listening`);
    }
    this.options.logger?.info({ port }, 'iperf3 server listening');
    void exited.then((code) => {
      this.#children.delete(port);
      if (this.#stopping) return;
      this.options.logger?.warn({ port, code, output: output.slice(-300) }, 'iperf3 server exited; restarting');
      setTimeout(() => {
        if (!this.#stopping) this.#startOne(port).catch((err: Error) => this.options.logger?.error({ port, err: err.message }, 'iperf3 server restart failed'));
      }, this.options.restartDelayMs ?? 1_000).unref();
    });
  }
}

/**
 * Bounded by design: a test averaging more than maxMbps over any 5 s is ended by the server
 * (without the "/5" window iperf 3.12 did not enforce the limit in our tries), a stuck server
 * restarts itself, and a silent client is dropped after 30 s.
 */
export function serverArgs(options: ServerPoolOptions, port: number): string[] {
  return [
    '-s',
    '-J',
    '-p',
    String(port),
    ...(options.bind === '0.0.0.0' || options.bind === '::' ? [] : ['-B', options.bind]),
    ...(options.maxMbps ? ['--server-bitrate-limit', `${options.maxMbps}M/5`] : []),
    '--idle-timeout',
    '120',
    '--rcv-timeout',
    '30000',
    ...(options.auth ? ['--rsa-private-key-path', options.auth.rsaPrivateKeyFile, '--authorized-users-path', options.auth.authorizedUsersFile] : []),
  ];
}

/** A listening TCP socket on the port in our network namespace (/proc/net/tcp{,6}). */
function isListening(port: number): boolean {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    // local_address is "ADDR:PORT", state 0A is LISTEN
    if (
      text.split('\n').some((line) => {
        const f = line.trim().split(/\s+/);
        return f[1]?.endsWith(`:${hex}`) && f[3] === '0A';
      })
    )
      return true;
  }
  return false;
}

async function waitForListen(port: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (isListening(port)) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}
