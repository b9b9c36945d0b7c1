import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { UsmpError } from '../../errors.js';
import type { Logger } from '../../log/logger.js';
import { systemClock, writeNtpTimestamp, type Clock } from './clock.js';
import { reflect } from './reflect.js';
import { RateLimiter, SessionTable } from './sessions.js';

export interface ReflectorOptions {
  bind: string;
  port: number;
  mode: 'stateless' | 'stateful';
  maxSessions: number;
  maxPpsPerPeer: number;
  sessionIdleMs?: number;
  errorEstimate: number;
  clock?: Clock;
  logger?: Logger;
}

export interface ReflectorStats {
  received: number;
  reflected: number;
  dropped_too_short: number;
  dropped_too_long: number;
  dropped_rate_limited: number;
  malformed_tlv: number;
  errors: number;
  sessions: number;
}

/** STAMP Session-Reflector on one UDP socket. Bad packets are counted, never fatal. */
export class StampReflector {
  readonly #options: ReflectorOptions;
  readonly #clock: Clock;
  readonly #sessions: SessionTable;
  readonly #limiter: RateLimiter;
  #socket: Socket | undefined;
  readonly #stats: Omit<ReflectorStats, 'sessions'> = {
    received: 0, reflected: 0, dropped_too_short: 0, dropped_too_long: 0, dropped_rate_limited: 0, malformed_tlv: 0, errors: 0,
  };

  constructor(options: ReflectorOptions) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock();
    this.#sessions = new SessionTable(options.maxSessions, options.sessionIdleMs ?? 60_000);
    this.#limiter = new RateLimiter(options.maxPpsPerPeer, options.maxSessions);
  }

  async start(): Promise<{ address: string; port: number }> {
    const socket = createSocket({ type: isIPv6(this.#options.bind) ? 'udp6' : 'udp4' });
    this.#socket = socket;
    socket.on('message', (message, peer) => this.#onMessage(message, peer));
    await new Promise<void>((resolve, reject) => {
      socket.once('error', (err: NodeJS.ErrnoException) => {
        reject(new UsmpError('USMP_E_PORT_UNAVAILABLE', `cannot listen on UDP ${this.#options.bind}:${this.#options.port} (${err.code ?? err.message})`, {
          cause: err,
          hint: err.code === 'EACCES' ? 'ports below 1024 need root or CAP_NET_BIND_SERVICE; choose --stamp-port above 1023' : 'another program holds this port; stop it or choose another with --stamp-port',
        }));
      });
      socket.bind(this.#options.port, this.#options.bind, () => resolve());
    });
    socket.on('error', (err) => {
      this.#stats.errors++;
      this.#options.logger?.warn({ err: err.message }, 'reflector socket error');
    });
    const address = socket.address();
    return { address: address.address, port: address.port };
  }

  stats(): ReflectorStats {
    return { ...this.#stats, sessions: this.#sessions.size };
  }

  async stop(): Promise<void> {
    const socket = this.#socket;
    this.#socket = undefined;
    if (socket) await new Promise<void>((resolve) => socket.close(() => resolve()));
  }

  #onMessage(request: Buffer, peer: RemoteInfo): void {
    const receiveNs = this.#clock.nowNs(); // T2, as early as we can
    this.#stats.received++;
    try {
      const nowMs = Number(receiveNs / 1_000_000n);
      if (!this.#limiter.allow(peer.address, nowMs)) {
        this.#stats.dropped_rate_limited++;
        return;
      }
      const seq = this.#options.mode === 'stateless' || request.length < 16
        ? (request.length >= 4 ? request.readUInt32BE(0) : 0)
        : this.#sessions.nextSeq(`${peer.address}|${peer.port}|${request.readUInt16BE(14)}`, nowMs);
      const result = reflect({ request, receiveNs, seq, errorEstimate: this.#options.errorEstimate });
      if (result === 'too_short' || result === 'too_long') {
        this.#stats[result === 'too_short' ? 'dropped_too_short' : 'dropped_too_long']++;
        this.#options.logger?.debug({ peer: peer.address, length: request.length, reason: result }, 'STAMP packet dropped');
        return;
      }
      if (result.malformedTlv) this.#stats.malformed_tlv++;
      writeNtpTimestamp(result.reply, result.t3Offset, this.#clock.nowNs()); // T3, just before sending
      this.#socket?.send(result.reply, peer.port, peer.address, (err) => {
        if (err) this.#stats.errors++;
        else this.#stats.reflected++;
      });
    } catch (err) {
      // never throw inside a socket callback: one bad packet must not stop the reflector
      this.#stats.errors++;
      this.#options.logger?.error({ err: (err as Error).message }, 'STAMP reflector failed on a packet');
    }
  }
}
