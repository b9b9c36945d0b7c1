import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createTcpServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { WebSocketServer, createWebSocketStream } from 'ws';
import { UsmpError } from '../errors.js';
import { readPemFile } from '../config/pem.js';
import type { Logger } from '../log/logger.js';
import type { BrokerStats } from './broker-stats.js';
import { GuardedConnection } from './connection-guard.js';
import { TokenBucket } from './token-bucket.js';

// The broker's listeners: plain TCP (the LAN of the health unit), TLS (optionally requiring a
// client certificate), WebSocket for cart software that only speaks MQTT over WS. Each accepted
// connection is counted against max_connections and a per-address connect rate before aedes
// sees a byte, and wrapped in the framing guard.

export interface ListenerConfig {
  type: 'tcp' | 'tls' | 'ws';
  host: string;
  port: number;
  cert_file?: string;
  key_file?: string;
  ca_file?: string;
  require_client_cert?: boolean;
}

export interface ConnectionLimits {
  maxConnections: number;
  connectsPerSecondPerAddress: number;
  maxPacketBytes: number;
  /** Connections of one address not yet signed in (before and during CONNECT). */
  unauthenticatedPerAddress: number;
  /** Connections not yet signed in, all addresses: the rest of maxConnections is for devices. */
  unauthenticatedMax: number;
  /** Retained PUBLISH packets longer than this are cut before they are buffered (undefined: no limit here). */
  maxRetainedPacketBytes?: number;
}

const ADDRESS_TABLE = 4096;

export interface BoundListener {
  type: ListenerConfig['type'];
  host: string;
  port: number;
}

type Handle = (stream: GuardedConnection) => void;

export class BrokerListeners {
  readonly #servers: Array<Server | HttpServer> = [];
  readonly #open = new Set<{ destroy(): void }>();
  readonly #buckets = new Map<string, TokenBucket>();
  /** Connections not yet signed in, by address. */
  readonly #strangers = new Map<string, number>();
  /** The same connections, oldest first. */
  readonly #strangerQueue = new Set<GuardedConnection>();
  readonly #limits: ConnectionLimits;
  readonly #stats: BrokerStats;
  readonly #log: Logger;
  readonly #handle: Handle;
  readonly bound: BoundListener[] = [];

  constructor(handle: Handle, limits: ConnectionLimits, stats: BrokerStats, log: Logger) {
    this.#handle = handle;
    this.#limits = limits;
    this.#stats = stats;
    this.#log = log;
  }

  async start(configs: ListenerConfig[]): Promise<BoundListener[]> {
    for (const config of configs) this.bound.push(await this.#listen(config));
    return this.bound;
  }

  async close(): Promise<void> {
    for (const c of this.#open) c.destroy();
    await Promise.all(this.#servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }

  /**
   * Admission: room left, the address not reconnecting in a loop, and not too many connections
   * that have not signed in: from one address, refused; from everyone, the oldest of them is
   * closed to make room (the rest of the slots are kept for devices that did sign in) — idle
   * sockets that never send CONNECT cannot take the broker.
   */
  #admit(remote: string | undefined): boolean {
    const key = remote ?? '?';
    const refuse = (
      reason: 'too_many_connections' | 'connect_rate' | 'unauthenticated_limit',
      message: string,
      fields: Record<string, unknown> = {},
    ): false => {
      this.#stats.reject(reason);
      this.#log.warn({ event: 'device.refused', reason, remote, ...fields }, message);
      return false;
    };
    if (this.#open.size >= this.#limits.maxConnections)
      return refuse('too_many_connections', 'connection refused: too many connections', { limit: this.#limits.maxConnections });
    if ((this.#strangers.get(key) ?? 0) >= this.#limits.unauthenticatedPerAddress) {
      return refuse('unauthenticated_limit', 'connection refused: this address already has connections that have not signed in', {
        limit: this.#limits.unauthenticatedPerAddress,
      });
    }
    if (this.#strangerQueue.size >= this.#limits.unauthenticatedMax) {
      // the one that has waited longest without signing in makes room: idle sockets cannot hold
      // the door shut against a device that is about to sign in
      const oldest = this.#strangerQueue.values().next().value!;
      this.#strangerQueue.delete(oldest);
      this.#stats.reject('unauthenticated_limit');
      this.#log.warn(
        { event: 'device.refused', reason: 'unauthenticated_limit', remote: oldest.remoteAddress, limit: this.#limits.unauthenticatedMax },
        'connection closed: the oldest of too many connections that have not signed in, to make room',
      );
      oldest.destroy();
    }
    let bucket = this.#buckets.get(key);
    if (bucket)
      this.#buckets.delete(key); // re-inserted below: the map stays in least-recently-seen order
    else {
      bucket = new TokenBucket(this.#limits.connectsPerSecondPerAddress, this.#limits.connectsPerSecondPerAddress * 5);
      this.#evictAddresses();
    }
    this.#buckets.set(key, bucket);
    if (bucket.take() > 0) return refuse('connect_rate', 'connection refused: this address connects too often');
    return true;
  }

  /** Makes room in the per-address table: full (idle) buckets first, oldest first; one at a time, never all. */
  #evictAddresses(): void {
    if (this.#buckets.size < ADDRESS_TABLE) return;
    for (const [address, bucket] of this.#buckets) {
      if (bucket.full) {
        this.#buckets.delete(address);
        return;
      }
    }
    this.#buckets.delete(this.#buckets.keys().next().value!); // every address busy: the least recently seen goes
  }

  #accept(stream: ConstructorParameters<typeof GuardedConnection>[0]): void {
    if (!this.#admit(stream.remoteAddress)) {
      stream.destroy();
      return;
    }
    const key = stream.remoteAddress ?? '?';
    const guarded = new GuardedConnection(stream, {
      maxPacketBytes: this.#limits.maxPacketBytes,
      ...(this.#limits.maxRetainedPacketBytes === undefined ? {} : { maxRetainedPacketBytes: this.#limits.maxRetainedPacketBytes }),
      onViolation: (kind, detail) => {
        this.#stats.reject(kind);
        this.#log.warn({ event: 'device.refused', reason: kind, remote: stream.remoteAddress, detail }, `connection closed: ${detail}`);
      },
    });
    let stranger = true;
    this.#strangers.set(key, (this.#strangers.get(key) ?? 0) + 1);
    this.#strangerQueue.add(guarded);
    const known = (): void => {
      if (!stranger) return;
      stranger = false;
      this.#strangerQueue.delete(guarded);
      const left = (this.#strangers.get(key) ?? 1) - 1;
      if (left <= 0) this.#strangers.delete(key);
      else this.#strangers.set(key, left);
    };
    guarded.once('authenticated', known);
    this.#open.add(guarded);
    guarded.on('close', () => {
      known();
      this.#open.delete(guarded);
    });
    guarded.on('error', () => undefined); // aedes reports it through clientError
    this.#handle(guarded);
  }

  async #listen(config: ListenerConfig): Promise<BoundListener> {
    let server: Server | HttpServer;
    if (config.type === 'tcp') {
      server = createTcpServer({ noDelay: true }, (socket: Socket) => this.#accept(socket));
    } else if (config.type === 'tls') {
      server = createTlsServer(
        {
          cert: readPemFile(config.cert_file, 'broker.listeners[].cert_file'),
          key: readPemFile(config.key_file, 'broker.listeners[].key_file'),
          ...(config.ca_file ? { ca: readPemFile(config.ca_file, 'broker.listeners[].ca_file') } : {}),
          requestCert: config.require_client_cert === true,
          rejectUnauthorized: config.require_client_cert === true,
          minVersion: 'TLSv1.2',
        },
        (socket) => this.#accept(socket),
      );
      server.on('tlsClientError', (err: Error, socket: TLSSocket) =>
        this.#log.warn({ event: 'device.tls_error', remote: socket.remoteAddress, err: err.message }, 'TLS handshake failed'),
      );
    } else {
      const http = createHttpServer((_req, res) => res.writeHead(426).end('MQTT over WebSocket only\n'));
      const wss = new WebSocketServer({ server: http, maxPayload: this.#limits.maxPacketBytes + 16 });
      wss.on('connection', (ws, req) => {
        const stream = Object.assign(createWebSocketStream(ws), { remoteAddress: req.socket.remoteAddress });
        this.#accept(stream);
      });
      server = http;
    }
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) =>
        reject(
          new UsmpError('USMP_E_PORT_UNAVAILABLE', `broker ${config.type} listener ${config.host}:${config.port}: ${err.code ?? err.message}`, { cause: err }),
        ),
      );
      server.listen(config.port, config.host, () => resolve());
    });
    this.#servers.push(server);
    const port = (server.address() as { port: number }).port;
    this.#log.info({ event: 'broker.listening', type: config.type, host: config.host, port }, `broker listening (${config.type}) on ${config.host}:${port}`);
    return { type: config.type, host: config.host, port };
  }
}
