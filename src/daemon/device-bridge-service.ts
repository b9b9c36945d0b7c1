import { hostname } from 'node:os';
import mqtt, { type IClientOptions } from 'mqtt';
import type { LoadedConfig } from '../config/load.js';
import { readPemFile } from '../config/pem.js';
import type { Logger } from '../log/logger.js';
import { DeviceBroker } from '../broker/device-broker.js';
import { TopicAcl } from '../broker/topic-acl.js';
import { DeviceRegistry } from '../broker/device-registry.js';
import { BrokerListeners, type BoundListener, type ListenerConfig } from '../broker/listeners.js';
import { COMMAND_LEVEL } from '../broker/topic-acl.js';
import { DeadLetters } from '../bridge/dead-letters.js';
import { DurableOutbox } from '../bridge/outbox/outbox.js';
import { TopicMap } from '../bridge/topic-map.js';
import { UpstreamBridge } from '../bridge/upstream-bridge.js';
import { BridgeObserver, type BridgeSnapshot } from './bridge-observer.js';

// Devices → broker → durable outbox → bridge → hospital, wired from the configuration.
// Start order: outbox (recovery), bridge (so a backlog starts draining), then the listeners;
// stop order is the reverse, so no device is acknowledged after the outbox closes.

export class DeviceBridgeService {
  readonly #config: LoadedConfig;
  readonly #log: Logger;
  #outbox: DurableOutbox | undefined;
  #broker: DeviceBroker | undefined;
  #listeners: BrokerListeners | undefined;
  #bridge: UpstreamBridge | undefined;
  #observer: BridgeObserver | undefined;

  constructor(config: LoadedConfig, log: Logger) {
    this.#config = config;
    this.#log = log;
  }

  get listeners(): BoundListener[] {
    return this.#listeners?.bound ?? [];
  }

  /** Publishes on the local broker (the monitor's state and alerts). */
  publishLocal(topic: string, payload: Buffer, qos: 0 | 1, retain = false): Promise<void> {
    if (!this.#broker) return Promise.reject(new Error('the broker is not running'));
    return this.#broker.publishLocal(topic, payload, qos, retain);
  }

  snapshot(): BridgeSnapshot | undefined {
    return this.#observer?.snapshot();
  }

  async start(): Promise<void> {
    const { broker: b, bridge: br } = this.#config.values;
    const log = this.#log;
    const devices = new TopicAcl(b.topic_prefix);
    const outbox = await DurableOutbox.open({
      dir: br.outbox_dir,
      maxMessages: br.outbox_max_messages,
      maxBytes: br.outbox_max_mb * 1024 * 1024,
      onRecoveryProblem: (p) => log.error({ event: 'outbox.recovery', ...p }, `outbox recovery: ${p.reason}`),
      ownerOf: (topic) => devices.deviceOf(topic),
    });
    this.#outbox = outbox;
    log.info({ event: 'outbox.opened', dir: br.outbox_dir, depth: outbox.depth }, `outbox holds ${outbox.depth} messages`);
    if (br.upstream.url !== '') this.#bridge = this.#createBridge();
    else log.warn({ event: 'bridge.disabled' }, 'bridge.upstream.url is empty: messages are kept in the outbox until a hospital broker is configured');

    const bridge = this.#bridge;
    const store = {
      usageOf: (device: string) => outbox.usageOf(device),
      append: async (topic: string, payload: Buffer, qos: 0 | 1 | 2) => {
        try {
          const seq = await outbox.append(topic, payload, qos);
          bridge?.wake();
          return seq;
        } catch (err) {
          this.#observer?.checkAlarm();
          throw err;
        }
      },
    };
    this.#broker = await DeviceBroker.create({
      registry: new DeviceRegistry(b.devices_file),
      store,
      topicPrefix: b.topic_prefix,
      alertReaders: this.#config.values.monitor.alerts.readers,
      log: log.child({ module: 'broker' }),
      limits: {
        maxPayloadBytes: b.max_payload_bytes,
        publishesPerSecond: b.publishes_per_s,
        publishBurst: b.publish_burst,
        bytesPerSecond: b.bytes_per_s,
        // 100 % or more: no share of its own, the outbox's own limit (outbox_full) applies
        outboxShare:
          b.device_outbox_share_percent >= 100
            ? { messages: Number.POSITIVE_INFINITY, bytes: Number.POSITIVE_INFINITY }
            : {
                messages: Math.floor((br.outbox_max_messages * b.device_outbox_share_percent) / 100),
                bytes: Math.floor((br.outbox_max_mb * 1024 * 1024 * b.device_outbox_share_percent) / 100),
              },
        retainedBytesPerDevice: b.retained_bytes_per_device,
        floodDisconnectMs: b.flood_disconnect_s * 1000,
        maxTopicLevels: b.max_topic_levels,
        drainTimeoutMs: b.drain_timeout_s * 1000,
        connectTimeoutMs: b.connect_timeout_s * 1000,
        keepaliveLimitS: b.keepalive_limit_s,
      },
    });
    this.#observer = new BridgeObserver({ outbox, broker: this.#broker, bridge: this.#bridge, log: log.child({ module: 'bridge' }) });
    this.#bridge?.start();
    const broker = this.#broker;
    this.#listeners = new BrokerListeners(
      (stream) => broker.aedes.handle(stream),
      {
        maxConnections: b.max_connections,
        connectsPerSecondPerAddress: b.connects_per_s_per_address,
        unauthenticatedPerAddress: b.unauthenticated_per_address,
        unauthenticatedMax: b.unauthenticated_max,
        // a retained publish bigger than a device's whole retained budget (all of them when it is 0) is cut
        // on its first octets, before its body is buffered; the topic and header take up to 65 537 more [MQTT 3.1.1 §3.3]
        maxRetainedPacketBytes: b.retained_bytes_per_device === 0 ? 0 : b.retained_bytes_per_device + 65_535 + 4,
        // the payload limit plus the largest topic and header MQTT allows [MQTT 3.1.1 §3.3]
        maxPacketBytes: b.max_payload_bytes + 65_535 + 8,
      },
      broker.stats,
      log.child({ module: 'broker' }),
    );
    const bound = await this.#listeners.start(b.listeners as unknown as ListenerConfig[]);
    for (const l of bound.filter((x) => x.type !== 'tls')) {
      // an explicit choice, said at every start: passwords and medical payloads cross the LAN in clear
      log.warn(
        { event: 'broker.plaintext', type: l.type, host: l.host, port: l.port },
        `the device broker listens WITHOUT encryption (${l.type}) on ${l.host}:${l.port}: anyone on the LAN who can spoof ARP reads device passwords and measurements; use a tls listener`,
      );
    }
    this.#observer.start(br.stats_interval_s * 1000);
  }

  async stop(): Promise<void> {
    this.#observer?.stop();
    await this.#listeners?.close();
    await this.#broker?.close();
    await this.#bridge?.stop();
    await this.#outbox?.close();
    this.#log.info({ event: 'bridge.stopped', depth: this.#outbox?.depth }, 'broker and bridge stopped; the outbox is closed');
  }

  #createBridge(): UpstreamBridge {
    const { bridge: br, broker: b, site } = this.#config.values;
    const applianceId = site.appliance_id || hostname();
    const secrets = this.#config.secrets;
    const up = br.upstream;
    const clientOptions: IClientOptions = {
      clientId: up.client_id || `usmp-edge-${applianceId}`,
      username: up.username,
      password: secrets.get('bridge.upstream.password'),
      clean: false,
      keepalive: 30,
      connectTimeout: 10_000,
      rejectUnauthorized: true,
      ...(up.ca_file ? { ca: readPemFile(up.ca_file, 'bridge.upstream.ca_file') } : {}),
      ...(up.cert_file ? { cert: readPemFile(up.cert_file, 'bridge.upstream.cert_file'), key: secrets.get('bridge.upstream.key') } : {}),
    };
    const url = up.url;
    return new UpstreamBridge({
      outbox: this.#outbox!,
      topics: new TopicMap(b.topic_prefix, br.remote_prefix.replaceAll('{appliance_id}', applianceId)),
      connect: (options) => mqtt.connect(url, options),
      clientOptions,
      sessionExpiryS: up.session_expiry_s,
      protocol: up.protocol,
      window: Math.max(1, br.window),
      reconnectMinMs: br.reconnect_min_ms,
      reconnectMaxMs: br.reconnect_max_ms,
      ackTimeoutMs: br.ack_timeout_s * 1000,
      deadLetters: new DeadLetters(br.outbox_dir),
      ...(br.commands ? { onCommand: (topic: string, payload: Buffer) => this.#broker!.publishLocal(topic, payload, 1), commandLevel: COMMAND_LEVEL } : {}),
      log: this.#log.child({ module: 'bridge' }),
    });
  }
}
