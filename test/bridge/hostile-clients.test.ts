import t from 'tap';
import { connect as tcpConnect, type Socket } from 'node:net';
import { connectDevice, REMOTE_PREFIX, startHospitalAndAppliance, type Device, waitUntil } from './fixtures.js';
import { missingCommand } from './requirements.js';
import { within } from '../fixtures/bounded.js';

// The prison LAN is hostile. Each bad client is refused or dropped as docs/device-bridge.md
// documents, logged with its reason, and the enrolled devices keep working.

const ECG: Device = { name: 'ecg-1', password: 'pw-ecg-1-0123456789' };
const STETH: Device = { name: 'steth-1', password: 'pw-steth-1-0123456789' };
const FLOODER: Device = { name: 'flood-1', password: 'pw-flood-1-0123456789' };
const missing = missingCommand('mosquitto');

t.test('hostile clients are refused and logged; enrolled devices keep working', missing ? { skip: missing } : {}, async (t) => {
  const { appliance, verifier } = await startHospitalAndAppliance(t, [ECG, STETH, FLOODER], {
    broker: { max_payload_bytes: 65536, publishes_per_s: 50, publish_burst: 100, flood_disconnect_s: 2, max_connections: 40, connects_per_s_per_address: 20 },
  });
  const ecg = await connectDevice(appliance.url, ECG);
  t.teardown(() => ecg.endAsync(true));
  const refused = (reason: string) => appliance.events('device.refused').filter((e) => e['reason'] === reason);
  const arrived = (payload: string) => waitUntil(() => verifier.received.some((m) => m.payload === payload), 10_000);

  t.test('unenrolled, wrong password, no credentials: CONNACK 4; wrong client id: CONNACK 2', async (t) => {
    const cases: Array<[string, Device, Record<string, unknown>, number, string]> = [
      ['unenrolled device', { name: 'ghost', password: 'whatever-password' }, {}, 4, 'unknown_device'],
      ['wrong password', { name: STETH.name, password: 'not-the-password' }, {}, 4, 'wrong_password'],
      ['no credentials', STETH, { username: undefined, password: undefined }, 4, 'no_credentials'],
      ['client id of another device', STETH, { clientId: ECG.name }, 2, 'client_id_mismatch'],
    ];
    for (const [what, device, options, code, reason] of cases) {
      const err = await connectDevice(appliance.url, device, options).then(
        (c) => (c.end(true), undefined),
        (e: Error & { code?: number }) => e,
      );
      t.equal(err?.code, code, `${what}: refused with CONNACK ${code}`);
      t.ok(await waitUntil(() => refused(reason).length > 0, 2000), `${what}: logged as ${reason}`);
    }
    t.notOk(
      appliance.lines.some((l) => l.includes('not-the-password') || l.includes(STETH.password)),
      'no password in the logs',
    );
  });

  t.test('publish outside its tree or to its own command topic: connection closed, nothing forwarded', async (t) => {
    for (const [topic, label] of [
      [`devices/${ECG.name}/ecg`, "another device's tree"],
      [`devices/${STETH.name}/cmd/reboot`, 'its own command topic'],
      ['hospital/elsewhere', 'a topic outside devices/'],
    ]) {
      const steth = await connectDevice(appliance.url, STETH);
      const closed = new Promise<void>((r) => steth.once('close', () => r()));
      steth.publish(topic!, `forged-${label}`, { qos: 1 });
      await within(`the appliance to close a device publishing to ${label}`, 10_000, closed);
      t.pass(`${label}: the connection was closed`);
      steth.end(true);
    }
    t.ok(refused('acl').length >= 3, 'each logged as acl with the topic');
    t.notOk(
      verifier.received.some((m) => m.payload.startsWith('forged-')),
      'nothing forged reached the hospital',
    );
  });

  t.test("subscribe to another device's topics: SUBACK 0x80; its own commands: granted", async (t) => {
    const steth = await connectDevice(appliance.url, STETH);
    t.teardown(() => steth.endAsync(true));
    // mqtt.js rejects when a filter is refused; the SUBACK it got is on the error
    const suback = await steth.subscribeAsync([`devices/${ECG.name}/cmd/#`, 'devices/#', `devices/${STETH.name}/cmd/#`], { qos: 1 }).then(
      () => undefined,
      (err: Error & { packet?: { granted?: number[] } }) => err.packet,
    );
    t.same(suback?.granted, [128, 128, 1], 'other device and wildcard refused (0x80), own command topics granted');
    t.ok(refused('subscribe_acl').length >= 2, 'refusals logged');
    const got: string[] = [];
    steth.on('message', (topic) => got.push(topic));
    const ecgGot = new Promise<string>((r) => ecg.once('message', (topic, payload) => r(`${topic} ${payload.toString()}`)));
    await ecg.subscribeAsync(`devices/${ECG.name}/cmd/#`, { qos: 1 });
    await verifier.publish(`${REMOTE_PREFIX}/${ECG.name}/cmd/start`, 'start-recording');
    t.equal(
      await within('the hospital command at the ECG', 10_000, ecgGot),
      `devices/${ECG.name}/cmd/start start-recording`,
      'a hospital command reaches its device',
    );
    await new Promise((r) => setTimeout(r, 300));
    t.same(got, [], 'and no other device');
  });

  t.test('oversized payloads: connection closed before or after buffering, logged', async (t) => {
    for (const size of [100 * 1024, 1024 * 1024]) {
      const steth = await connectDevice(appliance.url, STETH);
      const closed = new Promise<void>((r) => steth.once('close', () => r()));
      steth.publish(`devices/${STETH.name}/image`, Buffer.alloc(size, 1), { qos: 1 });
      await within(`the appliance to close a device sending ${size} bytes`, 10_000, closed);
      t.pass(`${size} bytes: connection closed`);
      steth.end(true);
    }
    t.ok(refused('oversized').length >= 2, 'both logged as oversized');
  });

  t.test('malformed packets: connection closed, logged', async (t) => {
    for (const bytes of [
      [0x00, 0x00],
      [0x10, 0xff, 0xff, 0xff, 0xff, 0x01],
      [0xf0, 0x00],
    ]) {
      const socket = await rawConnection(appliance.port);
      const closed = new Promise<void>((r) => socket.once('close', () => r()));
      socket.write(Buffer.from(bytes));
      await within(`the appliance to close a socket that sent ${Buffer.from(bytes).toString('hex')}`, 10_000, closed);
    }
    t.ok(refused('malformed').length >= 3, 'three malformed streams logged');
  });

  t.test('a publish flood is slowed, then disconnected; the ECG keeps its pace', async (t) => {
    const flooder = await connectDevice(appliance.url, FLOODER);
    const closed = new Promise<void>((r) => flooder.once('close', () => r()));
    let flooding = true;
    void closed.then(() => (flooding = false));
    const flood = () => {
      for (let i = 0; i < 500 && flooding; i++) flooder.publish(`devices/${FLOODER.name}/spam`, 'x', { qos: 0 });
      if (flooding) setImmediate(flood);
    };
    flood();
    const latencies: number[] = [];
    for (let i = 0; i < 20; i++) {
      const start = performance.now();
      await ecg.publishAsync(`devices/${ECG.name}/ecg`, `during-flood-${i}`, { qos: 1 });
      latencies.push(performance.now() - start);
      await new Promise((r) => setTimeout(r, 50));
    }
    await Promise.race([closed, new Promise((r) => setTimeout(r, 15_000))]);
    flooder.end(true);
    t.notOk(flooding, 'the flooder was disconnected');
    t.ok(refused('flood').length >= 1, 'logged as flood');
    t.ok(Math.max(...latencies) < 1000, `the ECG's PUBACKs kept coming (worst ${Math.max(...latencies).toFixed(1)} ms)`);
    t.ok(await arrived('during-flood-19'), 'and its messages reached the hospital');
  });

  t.test('a connection flood is refused; connected devices keep working', async (t) => {
    const sockets: Socket[] = [];
    for (let i = 0; i < 120; i++) sockets.push(await rawConnection(appliance.port).catch(() => undefined as unknown as Socket));
    t.teardown(() => sockets.forEach((s) => s?.destroy()));
    const logged = await waitUntil(
      () => refused('too_many_connections').length + refused('connect_rate').length + refused('unauthenticated_limit').length > 0,
      5000,
    );
    t.ok(logged, 'refusals logged (too_many_connections / connect_rate / unauthenticated_limit)');
    await ecg.publishAsync(`devices/${ECG.name}/ecg`, 'after-connection-flood', { qos: 1 });
    t.ok(await arrived('after-connection-flood'), 'the ECG still publishes to the hospital');
  });

  t.ok(appliance.running, 'the appliance is still running');
  await ecg.publishAsync(`devices/${ECG.name}/ecg`, 'last-word', { qos: 1 });
  t.ok(await arrived('last-word'), 'a last ECG message arrives');
});

function rawConnection(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = tcpConnect(port, '127.0.0.1', () => resolve(socket));
    socket.on('error', reject);
  });
}
