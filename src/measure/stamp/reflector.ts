import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { BlockList, isIPv4, isIPv6 } from 'node:net';
import { UsmpError } from '../../errors.js';
import type { Logger } from '../../log/logger.js';
import { authenticateRequest, type StampAuthMode, type StampKeyring } from './authentication.js';
import { systemClock, type Clock } from './clock.js';
import { SENDER_LAYOUT } from './packets.js';
import { reflect, sealReply } from './reflect.js';
import { RateLimiter, SessionTable, sourceNetwork } from './sessions.js';

const NO_KEYS: StampKeyring = { keyFor: () => undefined };

export interface ReflectorOptions {
  bind: string;
  port: number;
  mode: 'stateless' | 'stateful';
  /** Size of each per-peer table (sessions, address budgets, network budgets). */
  maxSessions: number;
  maxPpsPerPeer: number;
  /** Budget shared by a source network (/24, /64); default: four peers' worth. */
  maxPpsPerNetwork?: number;
  sessionIdleMs?: number;
  /** Authenticated mode [RFC 8762 §4.2.2]: open (none), both, or required. Default open. */
  auth?: { mode: StampAuthMode; keyring: StampKeyring };
  /** Source prefixes allowed to be answered ("198.18.0.0/15", "2001:db8::/32"); empty: any. */
  allowFrom?: readonly string[];
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
  dropped_not_allowed: number;
  dropped_unauthenticated: number;
  dropped_bad_hmac: number;
  /** New senders refused because every table slot is held by an active one. */
  dropped_table_full: number;
  authenticated: number;
  malformed_tlv: number;
  tlv_integrity_failed: number;
  errors: number;
  sessions: number;
}

/** STAMP Session-Reflector on one UDP socket. Bad packets are counted, never fatal. */
export class StampReflector {
  readonly #options: ReflectorOptions;
  readonly #clock: Clock;
  readonly #sessions: SessionTable;
  readonly #addressBudgets: RateLimiter;
  readonly #networkBudgets: RateLimiter;
  readonly #allowFrom: BlockList | undefined;
  #socket: Socket | undefined;
  readonly #stats: Omit<ReflectorStats, 'sessions'> = {
    received: 0,
    reflected: 0,
    dropped_too_short: 0,
    dropped_too_long: 0,
    dropped_rate_limited: 0,
    dropped_not_allowed: 0,
    dropped_unauthenticated: 0,
    dropped_bad_hmac: 0,
    dropped_table_full: 0,
    authenticated: 0,
    malformed_tlv: 0,
    tlv_integrity_failed: 0,
    errors: 0,
  };

  constructor(options: ReflectorOptions) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock();
    this.#sessions = new SessionTable(options.maxSessions, options.sessionIdleMs ?? 60_000);
    this.#addressBudgets = new RateLimiter(options.maxPpsPerPeer, options.maxSessions);
    this.#networkBudgets = new RateLimiter(options.maxPpsPerNetwork ?? 4 * options.maxPpsPerPeer, options.maxSessions);
    this.#allowFrom = allowList(options.allowFrom ?? []);
  }

  async start(): Promise<{ address: string; port: number }> {
    const socket = createSocket({ type: isIPv6(this.#options.bind) ? 'udp6' : 'udp4' });
    this.#socket = socket;
    socket.on('message', (message, peer) => this.#onMessage(message, peer));
    await new Promise<void>((resolve, reject) => {
      socket.once('error', (err: NodeJS.ErrnoException) => {
        reject(
          new UsmpError('USMP_E_PORT_UNAVAILABLE', `cannot listen on UDP ${this.#options.bind}:${this.#options.port} (${err.code ?? err.message})`, {
            cause: err,
            hint:
              err.code === 'EACCES'
                ? 'ports below 1024 need root or CAP_NET_BIND_SERVICE; choose --stamp-port above 1023'
                : 'another program holds this port; stop it or choose another with --stamp-port',
          }),
        );
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

  get bind(): string {
    return this.#options.bind;
  }

  get authMode(): StampAuthMode {
    return this.#options.auth?.mode ?? 'open';
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
      if (this.#allowFrom && !this.#allowFrom.check(peer.address, isIPv4(peer.address) ? 'ipv4' : 'ipv6')) {
        this.#stats.dropped_not_allowed++;
        return;
      }
      const auth = authenticateRequest(request, this.#options.auth?.mode ?? 'open', this.#options.auth?.keyring ?? NO_KEYS);
      if (auth.kind === 'refused') {
        this.#stats[auth.reason === 'bad_hmac' ? 'dropped_bad_hmac' : 'dropped_unauthenticated']++;
        return;
      }
      const credential = auth.kind === 'authenticated' ? auth.credential : undefined;
      const nowMs = Number(receiveNs / 1_000_000n);
      // Budgets are spent only by requests that passed authentication: in required mode a
      // spoofed source address cannot drain its owner's budget.
      const byAddress = this.#addressBudgets.check(peer.address, nowMs);
      const byNetwork = byAddress === 'allowed' ? this.#networkBudgets.check(sourceNetwork(peer.address), nowMs) : byAddress;
      if (byNetwork !== 'allowed') {
        this.#stats[byNetwork === 'table_full' ? 'dropped_table_full' : 'dropped_rate_limited']++;
        return;
      }
      const layout = credential ? SENDER_LAYOUT.authenticated : SENDER_LAYOUT.open;
      let seq: number | undefined = request.length >= 4 ? request.readUInt32BE(0) : 0;
      if (this.#options.mode === 'stateful' && request.length >= layout.ssid + 2) {
        seq = this.#sessions.nextSeq(`${peer.address}|${peer.port}|${request.readUInt16BE(layout.ssid)}`, nowMs);
      }
      if (seq === undefined) {
        this.#stats.dropped_table_full++;
        return;
      }
      const result = reflect({ request, receiveNs, seq, errorEstimate: this.#options.errorEstimate, ...(credential ? { credential } : {}) });
      if (result === 'too_short' || result === 'too_long') {
        this.#stats[result === 'too_short' ? 'dropped_too_short' : 'dropped_too_long']++;
        return;
      }
      if (credential) this.#stats.authenticated++;
      if (result.malformedTlv) this.#stats.malformed_tlv++;
      if (result.tlvIntegrityFailed) this.#stats.tlv_integrity_failed++;
      sealReply(result, this.#clock.nowNs()); // T3 (and the HMAC over it), just before sending
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

/** "198.18.0.0/15", "2001:db8::/32", or a single address; undefined when the list is empty. */
export function allowList(prefixes: readonly string[]): BlockList | undefined {
  if (prefixes.length === 0) return undefined;
  const list = new BlockList();
  for (const prefix of prefixes) {
    const [address = '', bits] = prefix.split('/');
    const type = isIPv6(address) ? 'ipv6' : 'ipv4';
    if (bits === undefined) list.addAddress(address, type);
    else list.addSubnet(address, Number(bits), type);
  }
  return list;
}
