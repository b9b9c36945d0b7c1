import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt, { type MqttClient } from 'mqtt';
import { DeviceRegistry } from '../../src/broker/device-registry.js';
import { hashPassword } from '../../src/broker/password-hash.js';
import { freeTcpPorts } from '../../src/exec/ports.js';
import { holdsWithin } from '../fixtures/bounded.js';
import { HOSPITAL_USERS, HospitalBroker } from '../fixtures/hospital-mosquitto.js';
import { exitOf, within } from '../fixtures/bounded.js';

export const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
export const REMOTE_PREFIX = 'usmp/test-site/devices';

export interface Device {
  name: string;
  password: string;
}

/** The appliance (`usmp-edge run`) as a child process on a fixed loopback port, restartable. */
export class Appliance {
  readonly dir: string;
  readonly configFile: string;
  port = 0;
  host = '127.0.0.1';
  /** Port of /metrics and /health, read back from the daemon.ready event. */
  metricsPort: number | undefined;
  #child: ChildProcess | undefined;
  lines: string[] = [];

  private constructor(dir: string) {
    this.dir = dir;
    this.configFile = join(dir, 'config.json');
  }

  static async create(
    hospital: HospitalBroker | undefined,
    devices: Device[],
    extra: { broker?: Record<string, unknown>; bridge?: Record<string, unknown>; host?: string; sections?: Record<string, unknown> } = {},
  ): Promise<Appliance> {
    const appliance = new Appliance(mkdtempSync(join(tmpdir(), 'usmp-appliance-')));
    appliance.host = extra.host ?? '127.0.0.1';
    appliance.port = (await freeTcpPorts(1))[0]!;
    writeFileSync(join(appliance.dir, 'hospital-password'), `${HOSPITAL_USERS.bridge.password}\n`, { mode: 0o600 });
    const registry = new DeviceRegistry(join(appliance.dir, 'devices.json'));
    for (const d of devices)
      registry.add({ name: d.name, passwordHash: await hashPassword(d.password), createdAt: new Date().toISOString(), description: 'test' });
    const config = {
      site: { appliance_id: 'test-site' },
      log: { level: 'info', pretty: 'never' },
      broker: { listeners: [{ type: 'tcp', host: appliance.host, port: appliance.port }], devices_file: registry.file, ...extra.broker },
      bridge: {
        upstream: hospital ? { url: hospital.url, username: HOSPITAL_USERS.bridge.username, password_file: join(appliance.dir, 'hospital-password') } : {},
        outbox_dir: join(appliance.dir, 'outbox'),
        reconnect_min_ms: 100,
        reconnect_max_ms: 1000,
        stats_interval_s: 1,
        ...extra.bridge,
      },
      metrics: { listen: `${appliance.host}:0` },
      ...extra.sections,
    };
    writeFileSync(appliance.configFile, JSON.stringify(config, null, 2));
    return appliance;
  }

  get url(): string {
    return `mqtt://${this.host}:${this.port}`;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** Starts `usmp-edge run` and resolves once it logged daemon.ready; `wrap` can put it in a namespace. */
  async start(wrap: (argv: string[]) => string[] = (a) => a): Promise<void> {
    const argv = wrap([process.execPath, CLI, '--config', this.configFile, 'run']);
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    this.#child = child;
    let buffer = '';
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        buffer += d.toString();
        let nl: number;
        while ((nl = buffer.indexOf('\n')) >= 0) {
          const line = buffer.slice(0, nl);
          buffer = buffer.slice(nl + 1);
          this.lines.push(line);
          if (line.includes('"daemon.ready"')) {
            this.metricsPort = (JSON.parse(line) as { metrics?: { port: number } | null }).metrics?.port;
            resolve();
          }
        }
      });
      child.once('exit', (code) => reject(new Error(`usmp-edge run exited (${code}) before ready: ${stderr}${this.lines.slice(-5).join('\n')}`)));
    });
  }

  events(name: string): Array<Record<string, unknown>> {
    return this.lines.filter((l) => l.includes(`"event":"${name}"`)).map((l) => JSON.parse(l) as Record<string, unknown>);
  }

  get running(): boolean {
    return this.#child !== undefined && this.#child.exitCode === null && this.#child.signalCode === null;
  }

  async signal(signal: NodeJS.Signals): Promise<number | null> {
    const child = this.#child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return child?.exitCode ?? null;
    const exited = exitOf(child, `usmp-edge run after ${signal}`, 30_000);
    child.kill(signal);
    return exited;
  }

  /** SIGTERM (a clean stop, which also writes its coverage), SIGKILL after 5 s; then its files go. */
  async destroy(): Promise<void> {
    const kill = setTimeout(() => void this.signal('SIGKILL'), 5000);
    await this.signal('SIGTERM');
    clearTimeout(kill);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A device client; rejects when the CONNACK refuses it. */
export function connectDevice(url: string, device: Device, options: mqtt.IClientOptions = {}): Promise<MqttClient> {
  const client = mqtt.connect(url, {
    clientId: device.name,
    username: device.name,
    password: device.password,
    protocolVersion: 4,
    reconnectPeriod: 0,
    connectTimeout: 5000,
    ...options,
  });
  return new Promise((resolve, reject) => {
    client.once('connect', () => resolve(client));
    client.once('error', (err) => {
      client.end(true);
      reject(err);
    });
  });
}

/** Collects what reaches the hospital: stable ids (MQTT 5 user property) and payloads, in order. */
export class HospitalVerifier {
  /** What reached the hospital reader, in order; `redelivered`: mosquitto sent it to the reader again (DUP set, [MQTT-3.3.1-1]). */
  readonly received: Array<{ topic: string; payload: string; id: string | undefined; redelivered: boolean }> = [];
  #client: MqttClient | undefined;

  static async start(hospital: HospitalBroker, filter = `${REMOTE_PREFIX}/#`): Promise<HospitalVerifier> {
    const v = new HospitalVerifier();
    v.#client = mqtt.connect(hospital.url, {
      clientId: 'verifier',
      username: HOSPITAL_USERS.verifier.username,
      password: HOSPITAL_USERS.verifier.password,
      protocolVersion: 5,
      clean: false,
      properties: { sessionExpiryInterval: 3600 },
      reconnectPeriod: 200,
    });
    v.#client.on('message', (topic, payload, packet) => {
      const id = packet.properties?.userProperties?.['usmp-msg-id'];
      v.received.push({ topic, payload: payload.toString(), id: Array.isArray(id) ? id[0] : id, redelivered: packet.dup });
    });
    await within(
      'the hospital verifier to connect and subscribe',
      20_000,
      new Promise<void>((resolve, reject) => {
        v.#client!.once('connect', () => v.#client!.subscribe(filter, { qos: 1 }, (err) => (err ? reject(err) : resolve())));
      }),
    );
    return v;
  }

  /** Publishes as the hospital (e.g. a command to a device). */
  async publish(topic: string, payload: string): Promise<void> {
    await this.#client!.publishAsync(topic, payload, { qos: 1 });
  }

  async close(): Promise<void> {
    await this.#client?.endAsync(true);
  }
}

/**
 * The usual set-up of a bridge test: a hospital mosquitto, a running appliance with these
 * devices, and a reader at the hospital; all removed when the test ends, whatever happens.
 */
export async function startHospitalAndAppliance(
  t: { teardown(fn: () => unknown): void },
  devices: Device[],
  extra: Parameters<typeof Appliance.create>[2] = {},
): Promise<{ hospital: HospitalBroker; appliance: Appliance; verifier: HospitalVerifier }> {
  const hospital = await HospitalBroker.start();
  const appliance = await Appliance.create(hospital, devices, extra);
  t.teardown(async () => {
    await appliance.destroy();
    await hospital.destroy();
  });
  await appliance.start();
  const verifier = await HospitalVerifier.start(hospital);
  t.teardown(() => verifier.close());
  return { hospital, appliance, verifier };
}

/** Polls `predicate` every 50 ms; false if it is still false after `timeoutMs` (test/fixtures/bounded.ts). */
export function waitUntil(predicate: () => boolean, timeoutMs: number): Promise<boolean> {
  return holdsWithin(timeoutMs, predicate);
}
