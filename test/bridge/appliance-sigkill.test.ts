import t from 'tap';
import mqtt, { type MqttClient } from 'mqtt';
import { startHospitalAndAppliance, type Device, waitUntil } from './fixtures.js';
import { missingCommand } from './requirements.js';

// The appliance is killed with SIGKILL at 20 moments during a stream —
// half of them right after a device received a PUBACK — and restarted each time; every message
// a device got a PUBACK for arrives at the hospital (mosquitto, whose persistence is a
// periodic snapshot, loses what it acknowledged since the last one: mosquitto.conf(5),
// autosave_interval).

const KILLS = 20;
const DEVICES: Device[] = ['ecg-1', 'steth-1', 'oto-1'].map((name) => ({ name, password: `pw-${name}-0123456789` }));
const missing = missingCommand('mosquitto');

t.test(`SIGKILL of the appliance at ${KILLS} moments: every acknowledged message arrives`, missing ? { skip: missing } : {}, async (t) => {
  const { appliance, verifier } = await startHospitalAndAppliance(t, DEVICES, {
    broker: { publishes_per_s: 100_000, publish_burst: 100_000, connects_per_s_per_address: 1000 },
  });

  const acked = new Set<string>();
  let killOnNextAck = false;
  const onAck = (payload: string) => {
    acked.add(payload);
    if (killOnNextAck) {
      killOnNextAck = false;
      void appliance.signal('SIGKILL'); // within the PUBACK's own callback: no time to write anything after it
    }
  };
  const devices = DEVICES.map((d) => new PublishingDevice(appliance.url, d, onAck));
  t.teardown(() => Promise.all(devices.map((d) => d.stop())));

  let rightAfterPuback = 0;
  for (let kill = 0; kill < KILLS; kill++) {
    const before = acked.size;
    await waitUntil(() => acked.size >= before + 100, 20_000); // the stream is flowing again
    await new Promise((r) => setTimeout(r, Math.random() * 300));
    if (kill % 2 === 0) {
      killOnNextAck = true;
      await waitUntil(() => !appliance.running, 10_000);
      rightAfterPuback++;
    } else {
      await appliance.signal('SIGKILL');
    }
    await appliance.start();
  }
  await Promise.all(devices.map((d) => d.stop()));
  t.equal(rightAfterPuback, KILLS / 2, 'half of the kills came right after a PUBACK');

  const missingFrom = () => {
    const received = new Set(verifier.received.map((m) => m.payload));
    return [...acked].filter((p) => !received.has(p));
  };
  const complete = await waitUntil(() => missingFrom().length === 0, 60_000);
  const lost = missingFrom();
  t.ok(
    complete,
    `every acknowledged message arrived (${acked.size} acknowledged, ${lost.length} missing${lost.length ? `: ${lost.slice(0, 5).join(', ')}` : ''})`,
  );
  t.equal(lost.length, 0, 'nothing acknowledged was lost');
  t.ok(acked.size > KILLS * 100, `the stream kept flowing between kills (${acked.size} acknowledged)`);
});

/** A device publishing QoS 1 with up to 50 in flight, reconnecting on its own like a real one. */
class PublishingDevice {
  readonly #client: MqttClient;
  readonly #timer: NodeJS.Timeout;
  #next = 0;
  #outstanding = 0;

  constructor(url: string, device: Device, onAck: (payload: string) => void) {
    this.#client = mqtt.connect(url, {
      clientId: device.name,
      username: device.name,
      password: device.password,
      protocolVersion: 4,
      reconnectPeriod: 100,
      connectTimeout: 2000,
    });
    this.#client.on('error', () => undefined);
    this.#timer = setInterval(() => {
      if (!this.#client.connected) return;
      while (this.#outstanding < 50) {
        const payload = `${device.name}:${this.#next++}`;
        this.#outstanding++;
        this.#client.publish(`devices/${device.name}/ecg`, payload, { qos: 1 }, (err) => {
          this.#outstanding--;
          if (!err) onAck(payload);
        });
      }
    }, 5);
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#client.endAsync(true);
  }
}
