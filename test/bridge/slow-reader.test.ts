import t from 'tap';
import { connect as tcpConnect } from 'node:net';
import mqttPacket from 'mqtt-packet';
import { connectDevice, REMOTE_PREFIX, startHospitalAndAppliance, waitUntil, type Device } from './fixtures.js';
import { missingCommand } from './requirements.js';
import { within } from '../fixtures/bounded.js';

// A device that stops reading what it is sent (here: its commands from the hospital) is dropped
// after broker.drain_timeout_s, so it cannot hold the broker's memory, and the other devices
// keep working. Slow clients are dropped.

const missing = missingCommand('mosquitto');
const ECG: Device = { name: 'ecg-1', password: 'ecg-1-password-0123456789' };
const SLOW: Device = { name: 'slow-1', password: 'slow-1-password-0123456789' };

t.test('a device that does not read is dropped after drain_timeout_s; the others carry on', missing ? { skip: missing } : {}, async (t) => {
  const { appliance, verifier } = await startHospitalAndAppliance(t, [ECG, SLOW], { broker: { drain_timeout_s: 1 } });

  // the slow device, by hand: CONNECT and SUBSCRIBE to its commands, then it stops reading
  const socket = tcpConnect(appliance.port, appliance.host);
  t.teardown(() => socket.destroy());
  const parser = mqttPacket.parser({ protocolVersion: 4 });
  const got: string[] = [];
  parser.on('packet', (p) => got.push(p.cmd));
  socket.on('data', (chunk) => parser.parse(chunk));
  await within('a TCP connection to the device listener', 10_000, new Promise<void>((resolve) => socket.once('connect', () => resolve())));
  socket.write(
    mqttPacket.generate({
      cmd: 'connect',
      protocolId: 'MQTT',
      protocolVersion: 4,
      clean: true,
      clientId: SLOW.name,
      username: SLOW.name,
      password: Buffer.from(SLOW.password),
      keepalive: 60,
    }),
  );
  socket.write(mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: `devices/${SLOW.name}/cmd/#`, qos: 0 }] }));
  t.ok(await waitUntil(() => got.includes('suback'), 5000), 'the slow device is connected and subscribed');
  socket.pause(); // from now on it reads nothing

  // the hospital sends it more than the socket buffers hold
  const command = 'x'.repeat(256 * 1024);
  for (let i = 0; i < 64; i++) await verifier.publish(`${REMOTE_PREFIX}/${SLOW.name}/cmd/firmware`, command);
  const dropped = await waitUntil(() => appliance.events('device.disconnected').some((e) => e['device'] === SLOW.name), 20_000);
  t.ok(dropped, 'the device that does not read was disconnected');
  t.ok(
    appliance.events('device.error').some((e) => e['device'] === SLOW.name && /drain timeout/.test(String(e['err']))),
    'for not draining (logged: drain timeout)',
  );

  // meanwhile and afterwards the ECG goes through
  const ecg = await connectDevice(appliance.url, ECG);
  t.teardown(() => ecg.endAsync(true));
  await ecg.publishAsync(`devices/${ECG.name}/ecg`, 'after-the-slow-one', { qos: 1 });
  t.ok(await waitUntil(() => verifier.received.some((m) => m.payload === 'after-the-slow-one'), 10_000), 'another device keeps working');
});
