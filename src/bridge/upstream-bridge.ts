import type { IClientOptions, IPublishPacket, MqttClient } from 'mqtt';
import type { Logger } from '../log/logger.js';
import { DecorrelatedJitter } from './backoff.js';
import type { DeadLetters } from './dead-letters.js';
import type { OutboxMessage } from './outbox/record.js';
import type { TopicMap } from './topic-map.js';
import { SendLanes } from './send-lanes.js';

// The bridge to the hospital broker. The outbox is the only queue: a message leaves it when the
// hospital's PUBACK arrives, never before. mqtt.js is used one connection at a time
// (reconnectPeriod 0, a fresh client — hence a fresh in-memory store — per connection), because
// its store replays one message per round trip and overwrites ids past 65 535 (MQTT.js
// lib/store.js); our own window keeps up to `window` messages in flight.

export interface BridgeOutbox {
  read(fromSeq: number, max: number): Promise<OutboxMessage[]>;
  ack(seq: number): void;
  messageId(seq: number): string;
  readonly watermark: number;
  readonly nextSeq: number;
}

export type ConnectFn = (options: IClientOptions) => MqttClient;

export interface UpstreamBridgeOptions {
  outbox: BridgeOutbox;
  topics: TopicMap;
  connect: ConnectFn;
  /** TLS, credentials, client id: everything but the protocol level, decided here. */
  clientOptions: IClientOptions;
  /** MQTT 5: how long the hospital keeps our session (command subscription) while we are away. */
  sessionExpiryS?: number;
  protocol: 'auto' | '5' | '3.1.1';
  window: number;
  reconnectMinMs: number;
  reconnectMaxMs: number;
  /** No PUBACK for this long on a live connection: the connection is dropped and redone. */
  ackTimeoutMs: number;
  deadLetters: DeadLetters;
  /** Commands from the hospital, handed to the local broker before they are acknowledged. */
  onCommand?: (localTopic: string, payload: Buffer) => Promise<void>;
  commandLevel?: string;
  log: Logger;
  random?: () => number;
  now?: () => number;
}

export interface BridgeCounters {
  connected: boolean;
  protocol: 5 | 4 | undefined;
  sent: number;
  acknowledged: number;
  rejected_by_hospital: number;
  connections: number;
  in_flight: number;
}

const noop = (): void => undefined;

/** MQTT 5 user property carrying the message's stable id. */
export const MESSAGE_ID_PROPERTY = 'usmp-msg-id';

export class UpstreamBridge {
  readonly #o: UpstreamBridgeOptions;
  readonly #backoff: DecorrelatedJitter;
  readonly #now: () => number;
  #client: MqttClient | undefined;
  #lanes: SendLanes | undefined;
  #generation = 0;
  #protocol: 5 | 4 = 5;
  #stopped = true;
  #retryTimer: NodeJS.Timeout | undefined;
  #watchdog: NodeJS.Timeout | undefined;
  readonly #counters: Omit<BridgeCounters, 'in_flight'> = {
    connected: false,
    protocol: undefined,
    sent: 0,
    acknowledged: 0,
    rejected_by_hospital: 0,
    connections: 0,
  };

  constructor(options: UpstreamBridgeOptions) {
    this.#o = options;
    this.#backoff = new DecorrelatedJitter(options.reconnectMinMs, options.reconnectMaxMs, options.random);
    this.#now = options.now ?? Date.now;
    this.#protocol = options.protocol === '3.1.1' ? 4 : 5;
  }

  /** A snapshot; `in_flight` is read from the window itself, so it is right after a drain. */
  get counters(): BridgeCounters {
    return { ...this.#counters, in_flight: this.#lanes?.inFlight ?? 0 };
  }

  start(): void {
    this.#stopped = false;
    this.#connect();
    this.#watchdog = setInterval(() => this.#checkAckTimeout(), Math.min(5000, this.#o.ackTimeoutMs)).unref();
  }

  /** Called after a message was stored: sends it now if the window has room. */
  wake(): void {
    this.#lanes?.pump();
  }

  /** Waits up to `graceMs` for what is in flight to be acknowledged, then closes. */
  async stop(graceMs = 2000): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#retryTimer);
    clearInterval(this.#watchdog);
    const lanes = this.#lanes;
    if (lanes) {
      lanes.closeForNew();
      const deadline = this.#now() + graceMs;
      while (lanes.inFlight > 0 && this.#now() < deadline && this.#counters.connected) await new Promise((r) => setTimeout(r, 20));
    }
    const client = this.#client;
    this.#client = undefined;
    this.#lanes = undefined;
    if (client) await new Promise<void>((resolve) => client.end(true, {}, () => resolve()));
    await this.#o.deadLetters.close();
  }

  #connect(): void {
    if (this.#stopped) return;
    const generation = ++this.#generation;
    const v5 = this.#protocol === 5 && this.#o.sessionExpiryS !== undefined ? { properties: { sessionExpiryInterval: this.#o.sessionExpiryS } } : {};
    // `log: noop`: mqtt.js traces every packet through `debug` otherwise (3 % of a busy bridge's CPU)
    const client = this.#o.connect({ ...this.#o.clientOptions, ...v5, protocolVersion: this.#protocol, reconnectPeriod: 0, log: noop });
    this.#client = client;
    client.handleMessage = (packet: IPublishPacket, done) =>
      void this.#command(packet).then(
        () => done(),
        (err: Error) => done(err),
      );
    client.on('connect', (connack) => {
      if (generation !== this.#generation) return;
      this.#counters.connected = true;
      this.#counters.protocol = this.#protocol;
      this.#counters.connections++;
      this.#backoff.reset();
      this.#o.log.info(
        { event: 'bridge.connected', protocol: this.#protocol === 5 ? '5' : '3.1.1', session_present: connack.sessionPresent },
        'connected to the hospital broker',
      );
      // A v5 server's Receive Maximum caps what may be unacknowledged [MQTT 5.0 §3.3.4]
      const receiveMaximum = connack.properties?.receiveMaximum;
      const window = Math.min(this.#o.window, receiveMaximum ?? Infinity);
      if (window < this.#o.window) {
        this.#o.log.warn(
          { event: 'bridge.window_limited', window, configured: this.#o.window },
          `the hospital broker allows ${window} messages in flight (Receive Maximum); a backlog drains at most ${window} per round trip`,
        );
      }
      this.#lanes = new SendLanes({
        outbox: this.#o.outbox,
        window,
        now: this.#now,
        send: (message, acked) => this.#send(client, generation, message, acked),
        batch: (sendAll) => {
          client.stream.cork();
          try {
            sendAll();
          } finally {
            process.nextTick(() => client.stream.uncork());
          }
        },
        onError: (err) => this.#o.log.error({ event: 'bridge.outbox_read_failed', err: err.message }, 'cannot read the outbox'),
      });
      if (this.#o.onCommand) {
        const filter = this.#o.topics.remoteCommandFilter(this.#o.commandLevel ?? 'cmd');
        client.subscribe(filter, { qos: 1 }, (err) => {
          if (err) this.#o.log.warn({ event: 'bridge.subscribe_failed', filter, err: err.message }, "cannot subscribe to the hospital's command topics");
        });
      }
      this.#lanes.pump();
    });
    client.on('error', (err: Error & { code?: number | string }) => {
      if (generation !== this.#generation) return;
      // A v3.1.1-only broker answers a v5 CONNECT with "unacceptable protocol" (1) or 0x84.
      if (this.#o.protocol === 'auto' && this.#protocol === 5 && (err.code === 1 || err.code === 0x84 || err.code === 132)) {
        this.#o.log.info({ event: 'bridge.protocol_fallback' }, 'the hospital broker does not speak MQTT 5; using 3.1.1 (no stable message id property)');
        this.#protocol = 4;
      }
      this.#o.log.warn({ event: 'bridge.error', code: 'USMP_E_BRIDGE_UPSTREAM', mqtt_code: err.code, err: err.message }, `hospital broker: ${err.message}`);
    });
    client.on('close', () => {
      if (generation !== this.#generation) return;
      const wasConnected = this.#counters.connected;
      this.#counters.connected = false;
      this.#lanes?.closeForNew();
      this.#lanes = undefined;
      this.#generation++; // late PUBACK callbacks of this connection are ignored from now on
      client.removeAllListeners('connect');
      client.end(true);
      if (this.#stopped) return;
      const delay = this.#backoff.next();
      if (wasConnected) this.#o.log.warn({ event: 'bridge.disconnected', retry_in_ms: delay }, 'lost the hospital broker; messages stay in the outbox');
      this.#retryTimer = setTimeout(() => this.#connect(), delay);
    });
  }

  #send(client: MqttClient, generation: number, message: OutboxMessage, acked: () => void): void {
    const topic = this.#o.topics.toRemote(message.topic) ?? message.topic;
    const properties = this.#protocol === 5 ? { userProperties: { [MESSAGE_ID_PROPERTY]: this.#o.outbox.messageId(message.seq) } } : undefined;
    this.#counters.sent++;
    client.publish(topic, message.payload, { qos: 1, ...(properties ? { properties } : {}) }, (err?: Error & { code?: number }) => {
      if (generation !== this.#generation) return; // that connection is gone; the message is sent again
      if (!err) {
        this.#o.outbox.ack(message.seq);
        this.#counters.acknowledged++;
        acked();
        return;
      }
      if (typeof err.code === 'number' && err.code >= 0x80) {
        // The hospital refused this message for good: keep it aside, then let it leave the outbox.
        this.#o.log.error(
          { event: 'bridge.rejected_by_hospital', topic, reason_code: err.code, message_id: this.#o.outbox.messageId(message.seq) },
          `the hospital broker refused a message: ${err.message}`,
        );
        void this.#o.deadLetters.add(message).then(() => {
          this.#counters.rejected_by_hospital++;
          this.#o.outbox.ack(message.seq);
          acked();
        });
      }
    });
  }

  async #command(packet: IPublishPacket): Promise<void> {
    if (!this.#o.onCommand) return;
    const local = this.#o.topics.commandToLocal(packet.topic, this.#o.commandLevel ?? 'cmd');
    if (!local) {
      this.#o.log.warn(
        { event: 'bridge.command_dropped', topic: packet.topic.slice(0, 200) },
        `the hospital broker sent ${JSON.stringify(packet.topic.slice(0, 200))}, which is not a device's command topic: dropped`,
      );
      return;
    }
    const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
    await this.#o.onCommand(local, payload);
  }

  #checkAckTimeout(): void {
    const oldest = this.#lanes?.oldestSentAt;
    if (oldest === undefined || this.#now() - oldest < this.#o.ackTimeoutMs) return;
    this.#o.log.warn({ event: 'bridge.ack_timeout', waited_ms: this.#now() - oldest }, 'the hospital broker stopped acknowledging; reconnecting');
    this.#client?.stream.destroy();
  }
}
