import t from 'tap';
import type { MqttClient } from 'mqtt';
import { connectDevice, startHospitalAndAppliance, type Device, waitUntil } from './fixtures.js';
import { missingCommand } from './requirements.js';

// 100,000 QoS 1 messages from several devices while the hospital broker (Debian's mosquitto) is
// stopped and restarted several times mid-stream: all arrive, and the bridge's duplicates stay
// within one in-flight window per interruption. The hospital's reader is a client of mosquitto
// too: what mosquitto sends it again after a restart carries DUP [MQTT-3.3.1-1] and is the
// reader's leg, not the bridge's, so it is counted apart.

const TOTAL = 100_000;
const DEVICES: Device[] = ['ecg-1', 'steth-1', 'oto-1', 'audio-1'].map((name) => ({ name, password: `pw-${name}-0123456789` }));
const PER_DEVICE = TOTAL / DEVICES.length;
const OUTAGES = 3;
const WINDOW = 256;
const RATE_PER_DEVICE = 2000; // 8 000 msg/s in all

const missing = missingCommand('mosquitto');

t.test('100,000 messages across 3 hospital-broker restarts: all arrive, few duplicates', missing ? { skip: missing } : {}, async (t) => {
  const { hospital, appliance, verifier } = await startHospitalAndAppliance(t, DEVICES, {
    broker: { publishes_per_s: 100_000, publish_burst: 100_000 },
    bridge: { window: WINDOW },
  });
  const clients = await Promise.all(DEVICES.map((d) => connectDevice(appliance.url, d)));
  t.teardown(() => Promise.all(clients.map((c) => c.endAsync(true))));

  let published = 0;
  const publishing = Promise.all(clients.map((c, i) => publishAll(c, DEVICES[i]!.name, () => published++)));
  // stop the hospital broker at 10 %, 30 % and 50 % of the stream, each time for 1 s, and
  // let the bridge reconnect before the next one
  for (let k = 0; k < OUTAGES; k++) {
    const at = TOTAL * (0.1 + 0.2 * k);
    while (published < at) await new Promise((r) => setTimeout(r, 20));
    t.ok(published < TOTAL, `outage ${k + 1} begins mid-stream (${published} published)`);
    await hospital.stop();
    await new Promise((r) => setTimeout(r, 1000));
    await hospital.resume();
    const reconnected = await waitUntil(() => appliance.events('bridge.connected').length >= k + 2, 10_000);
    t.ok(reconnected, `the bridge reconnected after outage ${k + 1}`);
  }
  await publishing;
  t.equal(published, TOTAL, 'every publish was acknowledged to its device');

  const unique = () => new Set(verifier.received.map((m) => m.payload)).size;
  const arrived = await waitUntil(() => unique() >= TOTAL, 120_000);
  t.ok(arrived, `all ${TOTAL} distinct messages reached the hospital (got ${unique()})`);
  const redeliveredToReader = verifier.received.filter((m) => m.redelivered).length;
  const duplicates = verifier.received.length - redeliveredToReader - unique();
  t.ok(
    duplicates <= WINDOW * OUTAGES,
    `the bridge's duplicates ${duplicates} ≤ one window (${WINDOW}) per outage (and ${redeliveredToReader} sent again by mosquitto to its reader)`,
  );
  const ids = new Map<string, string>();
  let idMismatch = 0;
  for (const m of verifier.received) {
    if (ids.has(m.payload) && ids.get(m.payload) !== m.id) idMismatch++;
    ids.set(m.payload, m.id ?? '');
  }
  t.equal(idMismatch, 0, 'a duplicate carries the same stable id as its first copy (the hospital can drop it)');
  t.ok(
    verifier.received.every((m) => typeof m.id === 'string' && /^[0-9a-f]{16}-\d+$/.test(m.id)),
    'every message carries its usmp-msg-id',
  );
  t.equal(appliance.events('bridge.disconnected').length, OUTAGES, 'each outage was logged once');
  t.comment(
    `duplicates from the bridge: ${duplicates}; sent again to the reader: ${redeliveredToReader}; reconnects: ${appliance.events('bridge.connected').length - 1}`,
  );
});

/** Publishes PER_DEVICE messages at RATE_PER_DEVICE (the stream lasts ~12 s, long enough for 3 outages), up to 20 in flight; payload "device:n". */
async function publishAll(client: MqttClient, device: string, onAck: () => void): Promise<void> {
  let next = 0;
  const started = Date.now();
  const worker = async () => {
    while (next < PER_DEVICE) {
      const n = next++;
      const wait = started + (n / RATE_PER_DEVICE) * 1000 - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      await client.publishAsync(`devices/${device}/ecg`, `${device}:${n}`, { qos: 1 });
      onAck();
    }
  };
  await Promise.all(Array.from({ length: 20 }, worker));
}
