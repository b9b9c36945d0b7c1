import t from 'tap';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { Aedes } from 'aedes';
import mqtt from 'mqtt';
import { createLogger } from '../../src/log/logger.js';
import { DeadLetters } from '../../src/bridge/dead-letters.js';
import { DurableOutbox } from '../../src/bridge/outbox/outbox.js';
import { decodeRecord, type OutboxMessage } from '../../src/bridge/outbox/record.js';
import { SendLanes } from '../../src/bridge/send-lanes.js';
import { TopicMap } from '../../src/bridge/topic-map.js';
import { UpstreamBridge } from '../../src/bridge/upstream-bridge.js';
import { HOSPITAL_USERS, HospitalBroker } from '../fixtures/hospital-mosquitto.js';
import { HospitalVerifier, REMOTE_PREFIX, waitUntil } from './fixtures.js';
import { missingCommand } from './requirements.js';

// The bridge's less travelled paths, in-process: a message the hospital refuses (MQTT 5
// PUBACK 0x87) is kept aside, not dropped; a 3.1.1-only hospital broker is spoken to in 3.1.1;
// the live lane gets through while a backlog drains.

/** A directory removed after every teardown of the test (t.testdir goes before them). */
function tempDir(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'usmp-bridge-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const silent = createLogger({ level: 'silent', pretty: 'never', fd: 2 });
const missing = missingCommand('mosquitto');

function bridgeTo(url: string, outbox: DurableOutbox, dir: string, extra: Partial<ConstructorParameters<typeof UpstreamBridge>[0]> = {}): UpstreamBridge {
  return new UpstreamBridge({
    outbox,
    topics: new TopicMap('devices', REMOTE_PREFIX),
    connect: (options) => mqtt.connect(url, options),
    clientOptions: { clientId: 'usmp-edge-test', username: HOSPITAL_USERS.bridge.username, password: HOSPITAL_USERS.bridge.password, clean: true },
    protocol: 'auto',
    window: 16,
    reconnectMinMs: 50,
    reconnectMaxMs: 200,
    ackTimeoutMs: 10_000,
    deadLetters: new DeadLetters(dir),
    log: silent,
    ...extra,
  });
}

t.test('a message the hospital refuses goes to rejected.log, the others through', missing ? { skip: missing } : {}, async (t) => {
  const hospital = await HospitalBroker.start({
    acl: [`user ${HOSPITAL_USERS.bridge.username}`, `topic write ${REMOTE_PREFIX}/+/hr`, `user ${HOSPITAL_USERS.verifier.username}`, 'topic readwrite #'],
  });
  t.teardown(() => hospital.destroy());
  const dir = tempDir(t);
  const outbox = await DurableOutbox.open({ dir, maxMessages: 1000, maxBytes: 1e7 });
  const verifier = await HospitalVerifier.start(hospital);
  t.teardown(() => verifier.close());
  await outbox.append('devices/ecg-1/hr', Buffer.from('72'));
  await outbox.append('devices/ecg-1/forbidden', Buffer.from('refused-by-acl'));
  await outbox.append('devices/ecg-1/hr', Buffer.from('73'));
  const bridge = bridgeTo(hospital.url, outbox, dir);
  bridge.start();
  t.teardown(async () => {
    await bridge.stop();
    await outbox.close();
  });
  t.ok(await waitUntil(() => outbox.depth === 0, 10_000), 'the outbox empties');
  t.ok(await waitUntil(() => verifier.received.length === 2, 5000), 'the two allowed messages arrive');
  t.same(
    verifier.received.map((m) => m.payload),
    ['72', '73'],
  );
  t.equal(bridge.counters.rejected_by_hospital, 1, 'one refusal counted');
  const kept = decodeRecord(readFileSync(join(dir, 'rejected.log')), 0) as { message: OutboxMessage };
  t.equal(kept.message.payload.toString(), 'refused-by-acl', 'the refused message is kept in rejected.log');
});

t.test("the hospital's Receive Maximum caps the window", missing ? { skip: missing } : {}, async (t) => {
  const hospital = await HospitalBroker.start({ maxInflight: 5 });
  t.teardown(() => hospital.destroy());
  const dir = tempDir(t);
  const outbox = await DurableOutbox.open({ dir, maxMessages: 1000, maxBytes: 1e7 });
  for (let i = 0; i < 200; i++) await outbox.append('devices/ecg-1/hr', Buffer.from(`${i}`));
  const lines: string[] = [];
  const log = createLogger({ level: 'info', pretty: 'never', fd: 2, destination: { write: (l: string) => void lines.push(l) } });
  let maxInFlight = 0;
  const bridge = bridgeTo(hospital.url, outbox, dir, { window: 64, log });
  const sample = setInterval(() => (maxInFlight = Math.max(maxInFlight, bridge.counters.in_flight)), 1);
  bridge.start();
  t.teardown(async () => {
    clearInterval(sample);
    await bridge.stop();
    await outbox.close();
  });
  t.ok(await waitUntil(() => outbox.depth === 0, 10_000), 'all 200 delivered');
  t.ok(
    lines.some((l) => l.includes('"event":"bridge.window_limited"') && l.includes('"window":5')),
    'the smaller window is logged',
  );
  t.ok(maxInFlight <= 5, `never more than 5 in flight (seen ${maxInFlight})`);
  t.match(bridge.counters, { sent: 200, acknowledged: 200, in_flight: 0 }, 'after the drain nothing is counted in flight');
});

t.test('a hospital broker that speaks only 3.1.1: the bridge falls back and delivers', async (t) => {
  const aedes = await Aedes.createBroker();
  const server = createServer(aedes.handle);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const got: string[] = [];
  aedes.on('publish', (packet, client) => {
    if (client) got.push(`${packet.topic} ${packet.payload.toString()}`);
  });
  const dir = tempDir(t);
  const outbox = await DurableOutbox.open({ dir, maxMessages: 1000, maxBytes: 1e7 });
  const bridge = bridgeTo(`mqtt://127.0.0.1:${(server.address() as { port: number }).port}`, outbox, dir);
  bridge.start();
  t.teardown(async () => {
    await bridge.stop();
    await outbox.close();
    await new Promise<void>((r) => aedes.close(() => r()));
    server.close();
  });
  await outbox.append('devices/ecg-1/hr', Buffer.from('70'));
  bridge.wake();
  const deadline = Date.now() + 10_000;
  while (got.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  t.same(got, [`${REMOTE_PREFIX}/ecg-1/hr 70`], 'delivered after the fallback');
  t.equal(bridge.counters.protocol, 4, 'spoken in 3.1.1');
});

t.test('send lanes: the backlog leaves room for live messages, order kept in each lane', async (t) => {
  const dir = tempDir(t);
  const outbox = await DurableOutbox.open({ dir, maxMessages: 1000, maxBytes: 1e7 });
  for (let i = 0; i < 100; i++) await outbox.append('devices/a/x', Buffer.from(`old-${i}`));
  const sent: Array<{ seq: number; ack: () => void }> = [];
  const lanes = new SendLanes({
    outbox,
    window: 8,
    now: Date.now,
    send: (m, ack) =>
      sent.push({
        seq: m.seq,
        ack: () => {
          outbox.ack(m.seq);
          ack();
        },
      }),
    onError: (e) => t.fail(e.message),
  });
  lanes.pump();
  await new Promise((r) => setTimeout(r, 50));
  t.same(
    sent.map((s) => s.seq),
    [0, 1, 2, 3, 4, 5],
    'the backlog fills window − reserve (8 − 2)',
  );
  const fresh = await outbox.append('devices/a/x', Buffer.from('fresh'));
  lanes.pump();
  await new Promise((r) => setTimeout(r, 50));
  t.equal(sent.at(-1)!.seq, fresh, 'a fresh message goes out at once, ahead of 94 old ones');
  for (let round = 0; round < 40 && !lanes.backlogDrained; round++) {
    for (const s of sent.splice(0)) s.ack();
    await new Promise((r) => setTimeout(r, 5));
  }
  t.ok(lanes.backlogDrained, 'the backlog drains');
  t.equal(outbox.depth, 0);
  t.equal(lanes.inFlight, 0);
  await outbox.close();
});
