import { Aedes, type AuthenticateError, type Client, type PublishPacket, type Subscription } from 'aedes';
import type { TLSSocket } from 'node:tls';
import type { Logger } from '../log/logger.js';
import { isUsmpError } from '../errors.js';
import { authenticateDevice } from './device-auth.js';
import type { DeviceRegistry } from './device-registry.js';
import { BrokerStats, type RejectReason } from './broker-stats.js';
import { TopicAcl } from './topic-acl.js';
import { TokenBucket } from './token-bucket.js';

// The devices' broker: aedes with our authentication, ACLs, limits, and the durable append
// placed in authorizePublish — the only hook aedes runs before it sends PUBACK (it acks
// before `published`/the publish event). So a device's PUBACK means "on disk".
// [aedes lib/handlers/publish.js: authorizePublish runs before the PUBACK is written]

export interface MessageStore {
  append(topic: string, payload: Buffer, qos: 0 | 1 | 2): Promise<number>;
  /** What one device holds in the store, not yet taken by the hospital. */
  usageOf(device: string): { messages: number; bytes: number };
}

export interface BrokerLimits {
  maxPayloadBytes: number;
  publishesPerSecond: number;
  publishBurst: number;
  /** Payload bytes per second per device (burst: one largest message, or a second's worth). */
  bytesPerSecond: number;
  /** Most one device may hold in the store: over it, that device alone is refused. */
  outboxShare: { messages: number; bytes: number };
  /** Retained payload bytes one device may keep on the broker; 0: retained publishes refused. */
  retainedBytesPerDevice: number;
  /** A client that owes more than this much waiting (a flood) is disconnected. */
  floodDisconnectMs: number;
  maxTopicLevels: number;
  drainTimeoutMs: number;
  connectTimeoutMs: number;
  keepaliveLimitS: number;
}

export interface DeviceBrokerOptions {
  registry: DeviceRegistry;
  store: MessageStore;
  topicPrefix: string;
  /** Enrolled clients that may read the monitor's state and alert topics. */
  alertReaders?: readonly string[];
  limits: BrokerLimits;
  log: Logger;
  stats?: BrokerStats;
  now?: () => number;
}

interface ClientState {
  device: string;
  bucket: TokenBucket;
  byteBucket: TokenBucket;
  /** messageId → "topic length" of the last message stored under it, to spot a DUP resend. */
  recent: Map<number, string>;
}

const RECENT_IDS = 1024;

export class DeviceBroker {
  readonly aedes: Aedes;
  readonly stats: BrokerStats;
  readonly acl: TopicAcl;
  readonly #o: DeviceBrokerOptions;
  readonly #clients = new WeakMap<Client, ClientState>();
  /** Retained bytes per device, by topic: what each device keeps on the broker. */
  readonly #retained = new Map<string, Map<string, number>>();
  readonly #now: () => number;

  private constructor(aedes: Aedes, options: DeviceBrokerOptions) {
    this.aedes = aedes;
    this.#o = options;
    this.stats = options.stats ?? new BrokerStats();
    this.acl = new TopicAcl(options.topicPrefix, options.alertReaders ?? []);
    this.#now = options.now ?? Date.now;
  }

  static async create(options: DeviceBrokerOptions): Promise<DeviceBroker> {
    const l = options.limits;
    const aedes = await Aedes.createBroker({
      maxTopicLevels: l.maxTopicLevels,
      drainTimeout: l.drainTimeoutMs,
      connectTimeout: l.connectTimeoutMs,
      keepaliveLimit: l.keepaliveLimitS,
      maxClientsIdLength: 23,
    });
    const broker = new DeviceBroker(aedes, options);
    aedes.authenticate = (client, username, password, done) => void broker.#authenticate(client, username, password, done);
    aedes.authorizePublish = (client, packet, done) => broker.#authorizePublish(client, packet, done);
    aedes.authorizeSubscribe = (client, sub, done) => broker.#authorizeSubscribe(client, sub, done);
    aedes.on('clientError', (client, err) => options.log.info({ event: 'device.error', device: client?.id, err: err.message }, 'device connection error'));
    aedes.on('clientDisconnect', (client) => options.log.info({ event: 'device.disconnected', device: client.id }, 'device disconnected'));
    aedes.on('clientReady', (client) => options.log.info({ event: 'device.connected', device: client.id }, 'device connected'));
    return broker;
  }

  get connectedDevices(): number {
    return this.aedes.connectedClients;
  }

  /** Delivers a message to local subscribers (commands from the hospital). */
  publishLocal(topic: string, payload: Buffer, qos: 0 | 1, retain = false): Promise<void> {
    return new Promise((resolve, reject) => {
      this.aedes.publish({ cmd: 'publish', topic, payload, qos, retain, dup: false }, (err) => (err ? reject(err) : resolve()));
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.aedes.close(() => resolve()));
  }

  #refuse(reason: RejectReason, fields: Record<string, unknown>, message: string): void {
    this.stats.reject(reason);
    this.#o.log.warn({ event: 'device.refused', reason, ...fields }, message);
  }

  async #authenticate(
    client: Client,
    username: string | undefined,
    password: Buffer | undefined,
    done: (error: AuthenticateError | null, success: boolean | null) => void,
  ): Promise<void> {
    const remote = remoteOf(client);
    try {
      const tlsSocket = (client.conn as { socket?: unknown }).socket as TLSSocket | undefined;
      const outcome = await authenticateDevice(this.#o.registry, client.id, username, password, 'encrypted' in (tlsSocket ?? {}) ? tlsSocket : undefined);
      if (!outcome.ok) {
        this.#refuse(outcome.reason, { client_id: client.id, username, remote }, `connection refused: ${outcome.reason.replace(/_/g, ' ')}`);
        const error = Object.assign(new Error(outcome.reason), { returnCode: outcome.returnCode }) as AuthenticateError;
        done(error, false);
        return;
      }
      this.#clients.set(client, {
        device: outcome.device,
        bucket: new TokenBucket(this.#o.limits.publishesPerSecond, this.#o.limits.publishBurst, this.#now),
        byteBucket: new TokenBucket(this.#o.limits.bytesPerSecond, Math.max(this.#o.limits.maxPayloadBytes, this.#o.limits.bytesPerSecond), this.#now),
        recent: new Map(),
      });
      (client.conn as { authenticated?: () => void }).authenticated?.(); // its slot is no longer a stranger's
      this.stats.connectionsAccepted++;
      done(null, true);
    } catch (err) {
      // an unreadable registry: refuse (server unavailable) and say why, keep serving
      this.#o.log.error({ event: 'device.auth_failed', err: (err as Error).message, remote }, 'cannot check device credentials');
      done(Object.assign(new Error('registry unavailable'), { returnCode: 3 as const }), false);
    }
  }

  #authorizePublish(client: Client | null, packet: PublishPacket, done: (error?: Error | null) => void): void {
    if (client === null) {
      done(); // the broker's own publishes (commands from the hospital)
      return;
    }
    const state = this.#clients.get(client);
    if (!state) {
      done(new Error('not authenticated'));
      return;
    }
    const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
    // MQTT 3.1.1 has no negative PUBACK: a publish we will not store closes the connection,
    // so the device keeps it and nothing is acknowledged that was not kept. [MQTT-3.3.5-2]
    const decision = this.acl.canPublish(state.device, packet.topic);
    if (!decision.allowed) {
      this.#refuse('acl', { device: state.device, topic: packet.topic }, `publish refused: ${decision.reason}`);
      done(new Error(decision.reason));
      return;
    }
    if (payload.length > this.#o.limits.maxPayloadBytes) {
      this.#refuse(
        'oversized',
        { device: state.device, topic: packet.topic, bytes: payload.length },
        `publish refused: payload of ${payload.length} bytes over ${this.#o.limits.maxPayloadBytes}`,
      );
      done(new Error('payload too large'));
      return;
    }
    if (packet.retain && !this.#retainAllowed(state.device, packet.topic, payload.length)) {
      const limit = this.#o.limits.retainedBytesPerDevice;
      this.#refuse(
        'retained',
        { device: state.device, topic: packet.topic, bytes: payload.length, limit },
        limit === 0
          ? 'publish refused: retained messages are not kept for devices (broker.retained_bytes_per_device is 0)'
          : `publish refused: the device's retained messages would exceed ${limit} bytes`,
      );
      done(new Error('retained refused'));
      return;
    }
    const share = this.#o.limits.outboxShare;
    const held = this.#o.store.usageOf(state.device);
    if (held.messages + 1 > share.messages || held.bytes + payload.length > share.bytes) {
      // this device alone: the others keep their room in the outbox
      this.#refuse(
        'outbox_share',
        { device: state.device, held_messages: held.messages, held_bytes: held.bytes, share_messages: share.messages, share_bytes: share.bytes },
        'publish refused: this device holds its whole share of the outbox',
      );
      done(new Error('outbox share exceeded'));
      return;
    }
    const waitMs = Math.max(state.bucket.take(), state.byteBucket.take(payload.length));
    if (waitMs > this.#o.limits.floodDisconnectMs) {
      this.#refuse(
        'flood',
        { device: state.device, rate_limit: this.#o.limits.publishesPerSecond, byte_rate_limit: this.#o.limits.bytesPerSecond },
        'device disconnected: publishing far above its rate limit',
      );
      done(new Error('flood'));
      return;
    }
    const store = () => this.#store(state, packet, payload, done);
    if (waitMs > 0) setTimeout(store, waitMs);
    else store();
  }

  /** A retained publish fits the device's retained budget (an empty one deletes, always allowed) [MQTT-3.3.1-10]. */
  #retainAllowed(device: string, topic: string, bytes: number): boolean {
    const limit = this.#o.limits.retainedBytesPerDevice;
    const mine = this.#retained.get(device) ?? new Map<string, number>();
    if (bytes === 0) {
      mine.delete(topic);
      return true;
    }
    if (limit === 0) return false;
    let total = bytes;
    for (const [t, b] of mine) if (t !== topic) total += b;
    if (total > limit) return false;
    mine.set(topic, bytes);
    this.#retained.set(device, mine);
    return true;
  }

  #store(state: ClientState, packet: PublishPacket, payload: Buffer, done: (error?: Error | null) => void): void {
    const qos = packet.qos;
    // same id, same topic, same size, flagged DUP, on the same connection: the resend of a
    // message whose PUBACK the device missed [MQTT-4.3.2]; cheaper than hashing every payload
    const signature = `${packet.topic} ${payload.length}`;
    const id = packet.messageId;
    // A DUP resend of what we stored on this connection is acknowledged without storing it twice.
    if (packet.dup && id !== undefined && state.recent.get(id) === signature) {
      done();
      return;
    }
    this.#o.store.append(packet.topic, payload, qos).then(
      () => {
        this.stats.publishesIn++;
        this.stats.bytesIn += payload.length;
        if (id !== undefined && qos > 0) {
          state.recent.set(id, signature);
          if (state.recent.size > RECENT_IDS) state.recent.delete(state.recent.keys().next().value!);
        }
        done();
      },
      (err: unknown) => {
        const full = isUsmpError(err) && err.code === 'USMP_E_OUTBOX_FULL';
        this.#refuse(
          full ? 'outbox_full' : 'outbox_io',
          { device: state.device, err: (err as Error).message },
          full ? 'publish refused: the outbox is full' : 'publish refused: the outbox cannot be written',
        );
        done(err as Error);
      },
    );
  }

  #authorizeSubscribe(client: Client, sub: Subscription, done: (error: Error | null, subscription?: Subscription | null) => void): void {
    const state = this.#clients.get(client);
    const decision = state ? this.acl.canSubscribe(state.device, sub.topic) : { allowed: false as const, reason: 'not authenticated' };
    if (!decision.allowed) {
      this.#refuse('subscribe_acl', { device: state?.device, filter: sub.topic }, `subscription refused: ${decision.reason}`);
      done(null, null); // SUBACK 0x80 for this filter, the connection stays [MQTT-3.9.3]
      return;
    }
    done(null, sub);
  }
}

function remoteOf(client: Client): string | undefined {
  return (client.conn as { remoteAddress?: string }).remoteAddress;
}
