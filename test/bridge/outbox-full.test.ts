import t from 'tap';
import { connectDevice, REMOTE_PREFIX, startHospitalAndAppliance, waitUntil, type Device } from './fixtures.js';
import { missingCommand } from './requirements.js';
import { within } from '../fixtures/bounded.js';

// A full outbox refuses, raises one alarm and drops nothing: the hospital is away, the outbox
// fills to its capacity, the next publish is refused (connection closed without PUBACK, so the
// device keeps the message), `alarm.outbox_full` is logged once; the hospital comes back, the
// outbox drains, the alarm clears, the device sends its message again, and every message
// arrives. When full, new publishes are refused and an alarm raised.

const missing = missingCommand('mosquitto');
const ECG: Device = { name: 'ecg-1', password: 'ecg-1-password-0123456789' };
const CAPACITY = 50;

t.test('a full outbox refuses the next publish, alarms once, drops nothing, and recovers', missing ? { skip: missing } : {}, async (t) => {
  // one device may take the whole outbox here (its share is 100 %): the outbox's own limit is what is tested
  const { hospital, appliance, verifier } = await startHospitalAndAppliance(t, [ECG], {
    bridge: { outbox_max_messages: CAPACITY, stats_interval_s: 1 },
    broker: { device_outbox_share_percent: 100 },
  });
  await hospital.stop();

  let device = await connectDevice(appliance.url, ECG);
  for (let i = 0; i < CAPACITY; i++) await device.publishAsync('devices/ecg-1/ecg', `m${i}`, { qos: 1 });
  t.pass(`${CAPACITY} messages acknowledged while the hospital is away`);

  const closed = new Promise<'closed'>((resolve) => device.once('close', () => resolve('closed')));
  const refused = await within(
    'a PUBACK or the connection closed',
    10_000,
    Promise.race([device.publishAsync('devices/ecg-1/ecg', `m${CAPACITY}`, { qos: 1 }).then(() => 'acknowledged' as const), closed]),
  );
  t.equal(refused, 'closed', 'one more: the connection is closed, no PUBACK (the device keeps the message)');
  await device.endAsync(true);
  t.ok(await waitUntil(() => appliance.events('device.refused').some((e) => e['reason'] === 'outbox_full'), 5000), 'the refusal is logged as outbox_full');

  // refused again while still full: still one alarm
  device = await connectDevice(appliance.url, ECG);
  const again = new Promise<'closed'>((resolve) => device.once('close', () => resolve('closed')));
  t.equal(
    await within(
      'a PUBACK or the connection closed',
      10_000,
      Promise.race([device.publishAsync('devices/ecg-1/ecg', `m${CAPACITY}`, { qos: 1 }).then(() => 'acknowledged' as const), again]),
    ),
    'closed',
    'still full: refused again',
  );
  await device.endAsync(true);
  t.equal(appliance.events('alarm.outbox_full').length, 1, 'one alarm, not one per refusal');
  t.ok(
    await waitUntil(() => appliance.events('bridge.stats').some((e) => e['outbox_full'] === true && e['outbox_depth'] === CAPACITY), 5000),
    'the stats say full, at capacity',
  );

  await hospital.resume();
  t.ok(await waitUntil(() => appliance.events('alarm.outbox_full.cleared').length === 1, 20_000), 'the hospital takes the backlog: the alarm clears');

  device = await connectDevice(appliance.url, ECG);
  await device.publishAsync('devices/ecg-1/ecg', `m${CAPACITY}`, { qos: 1 });
  await device.endAsync();
  t.ok(
    await waitUntil(() => new Set(verifier.received.map((m) => m.payload)).size === CAPACITY + 1, 20_000),
    'every message arrived, the refused one included',
  );
  t.same([...new Set(verifier.received.map((m) => m.payload))].sort(), Array.from({ length: CAPACITY + 1 }, (_, i) => `m${i}`).sort());
  t.ok(verifier.received.every((m) => m.topic === `${REMOTE_PREFIX}/ecg-1/ecg`));
});
