import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createTcpServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
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
}

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

  /** Admission: room left and the address not reconnecting in a loop. */
  #admit(remote: string | undefined): boolean {
    if (this.#open.size >= this.#limits.maxConnections) {
      this.#stats.reject('too_many_connections');
      this.#log.warn({ event: 'device.refused', reason: 'too_many_connections', remote, limit: this.#limits.maxConnections }, 'connection refused: too many connections');
      return false;
    }
    const key = remote ?? '?';
    let bucket = this.#buckets.get(key);
    if (!bucket) {
      if (this.#buckets.size > 4096) this.#buckets.clear();
      bucket = new TokenBucket(this.#limits.connectsPerSecondPerAddress, this.#limits.connectsPerSecondPerAddress * 5);
      this.#buckets.set(key, bucket);
    }
    if (bucket.take() > 0) {
      this.#stats.reject('connect_rate');
      this.#log.warn({ event: 'device.refused', reason: 'connect_rate', remote }, 'connection refused: this address connects too often');
      return false;
    }
    return true;
  }

  #accept(stream: ConstructorParameters<typeof GuardedConnection>[0]): void {
    if (!this.#admit(stream.remoteAddress)) {
      stream.destroy();
      return;
    }
    const guarded = new GuardedConnection(stream, {
      maxPacketBytes: this.#limits.maxPacketBytes,
      onViolation: (kind, detail) => {
        this.#stats.reject(kind);
        this.#log.warn({ event: 'device.refused', reason: kind, remote: stream.remoteAddress, detail }, `connection closed: ${detail}`);
      },
    });
    this.#open.add(guarded);
    guarded.on('close', () => this.#open.delete(guarded));
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
      server.on('tlsClientError', (err, socket) => this.#log.warn({ event: 'device.tls_error', remote: socket.remoteAddress, err: err.message }, 'TLS handshake failed'));
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
      server.once('error', (err: NodeJS.ErrnoException) => reject(new UsmpError('USMP_E_PORT_UNAVAILABLE', `broker ${config.type} listener ${config.host}:${config.port}: ${err.code ?? err.message}`, { cause: err })));
      server.listen(config.port, config.host, () => resolve());
    });
    this.#servers.push(server);
    const port = (server.address() as { port: number }).port;
    this.#log.info({ event: 'broker.listening', type: config.type, host: config.host, port }, `broker listening (${config.type}) on ${config.host}:${port}`);
    return { type: config.type, host: config.host, port };
  }
}
