import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from '../../src/cli/program.js';
import type { Output } from '../../src/cli/output.js';
import { MqttFramingGuard } from '../../src/broker/connection-guard.js';
import { DeviceRegistry } from '../../src/broker/device-registry.js';
import { hashPassword, isPasswordHash, verifyPassword } from '../../src/broker/password-hash.js';
import { TokenBucket } from '../../src/broker/token-bucket.js';
import { TopicAcl } from '../../src/broker/topic-acl.js';
import { DecorrelatedJitter } from '../../src/bridge/backoff.js';
import { TopicMap } from '../../src/bridge/topic-map.js';

t.test('topic ACL: own tree only, commands read-only, deny by default', async (t) => {
  const acl = new TopicAcl('devices');
  t.ok(acl.canPublish('ecg-1', 'devices/ecg-1/hr').allowed);
  t.ok(acl.canPublish('ecg-1', 'devices/ecg-1/leads/ii').allowed);
  for (const topic of [
    'devices/ecg-2/hr',
    'devices/ecg-1',
    'devices/ecg-1/cmd/x',
    'devices/ecg-1/cmd',
    'other/ecg-1/hr',
    '$SYS/x',
    'devices/ecg-1//x',
    'devices/ecg-10/hr',
  ]) {
    t.notOk(acl.canPublish('ecg-1', topic).allowed, `publish ${topic} refused`);
  }
  t.ok(acl.canSubscribe('ecg-1', 'devices/ecg-1/cmd/#').allowed);
  t.ok(acl.canSubscribe('ecg-1', 'devices/ecg-1/cmd').allowed);
  t.ok(acl.canSubscribe('ecg-1', 'devices/ecg-1/cmd/+/start').allowed);
  for (const filter of ['devices/#', 'devices/+/cmd/#', 'devices/ecg-1/#', 'devices/ecg-2/cmd/#', '#', 'devices/ecg-1/+/x', 'devices/ecg-1/hr']) {
    t.notOk(acl.canSubscribe('ecg-1', filter).allowed, `subscribe ${filter} refused`);
  }
  t.match(acl.canPublish('ecg-1', 'devices/ecg-1/cmd/x'), { allowed: false, reason: /command topic/ });
  t.ok(new TopicAcl('usmp/site/devices').canPublish('a', 'usmp/site/devices/a/x').allowed, 'a multi-level prefix');
});

t.test('framing guard: follows packets across chunks, stops oversized and malformed ones', async (t) => {
  const guard = new MqttFramingGuard(100);
  // PUBLISH of 50 bytes split over three chunks, then a PINGREQ (0 remaining length)
  const publish = Buffer.concat([Buffer.from([0x30, 50]), Buffer.alloc(50, 7)]);
  t.equal(guard.feed(publish.subarray(0, 1)), undefined);
  t.equal(guard.feed(publish.subarray(1, 20)), undefined);
  t.equal(guard.feed(Buffer.concat([publish.subarray(20), Buffer.from([0xc0, 0x00])])), undefined);
  // a two-byte remaining length: 200 = 0xc8 0x01
  t.match(guard.feed(Buffer.from([0x30, 0xc8, 0x01])), { kind: 'oversized', detail: /200 bytes over the limit of 100/ });
  t.match(new MqttFramingGuard(1e9).feed(Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff])), { kind: 'malformed', detail: /4 bytes/ });
  t.match(new MqttFramingGuard(100).feed(Buffer.from([0x00])), { kind: 'malformed', detail: /reserved packet type 0/ });
  t.match(new MqttFramingGuard(100).feed(Buffer.from([0xf0])), { kind: 'malformed' });
  const split = new MqttFramingGuard(1000);
  t.equal(split.feed(Buffer.from([0x30, 0x80])), undefined, 'a remaining length split across chunks');
  t.equal(split.feed(Buffer.from([0x01])), undefined);
  t.equal(split.feed(Buffer.alloc(128)), undefined);
  t.equal(split.feed(Buffer.from([0xe0, 0x00])), undefined, 'then a DISCONNECT');
});

t.test('token bucket: a burst, then the rate, with the wait it asks for', async (t) => {
  let now = 0;
  const bucket = new TokenBucket(10, 3, () => now);
  t.same([bucket.take(), bucket.take(), bucket.take()], [0, 0, 0], 'the burst is free');
  t.equal(Math.round(bucket.take()), 100, 'the 4th waits 1/rate');
  t.equal(Math.round(bucket.take()), 200, 'the debt grows');
  now += 1000;
  t.equal(bucket.take(), 0, 'refilled after a second');
});

t.test('decorrelated jitter: between base and 3× the previous, capped, reset', async (t) => {
  let r = 1;
  const backoff = new DecorrelatedJitter(100, 1000, () => r);
  t.same([backoff.next(), backoff.next(), backoff.next()], [300, 900, 1000]);
  backoff.reset();
  r = 0;
  t.equal(backoff.next(), 100);
  const random = new DecorrelatedJitter(1000, 30000);
  for (let i = 0; i < 50; i++) {
    const d = random.next();
    t.ok(d >= 1000 && d <= 30000, `within bounds (${d})`);
  }
});

t.test('topic map: local ↔ remote prefixes', async (t) => {
  const map = new TopicMap('devices', 'usmp/site-1/devices/');
  t.equal(map.toRemote('devices/ecg-1/hr'), 'usmp/site-1/devices/ecg-1/hr');
  t.equal(map.toRemote('elsewhere/x'), undefined);
  t.equal(map.toLocal('usmp/site-1/devices/ecg-1/cmd/x'), 'devices/ecg-1/cmd/x');
  t.equal(map.toLocal('usmp/site-2/devices/ecg-1/cmd/x'), undefined);
  t.equal(map.remoteCommandFilter('cmd'), 'usmp/site-1/devices/+/cmd/#');
});

t.test('topic map: hospital → device, command topics only', async (t) => {
  const map = new TopicMap('devices', 'usmp/site-1/devices/');
  t.equal(map.commandToLocal('usmp/site-1/devices/ecg-1/cmd', 'cmd'), 'devices/ecg-1/cmd');
  t.equal(map.commandToLocal('usmp/site-1/devices/ecg-1/cmd/start', 'cmd'), 'devices/ecg-1/cmd/start');
  for (const topic of [
    'usmp/site-1/devices/ecg-1/hr',
    'usmp/site-1/devices/ecg-1',
    'usmp/site-1/devices//cmd/x',
    'usmp/site-1/devices/ecg-1/config/cmd',
    'usmp/site-2/devices/ecg-1/cmd',
    'usmp/site-1/devices/+/cmd/x',
  ]) {
    t.equal(map.commandToLocal(topic, 'cmd'), undefined, `${topic}: not a command`);
  }
});

t.test('password hashes: scrypt, salted, constant-time check, malformed hashes refused', async (t) => {
  const cheap = { log2N: 10, r: 8, p: 1 };
  const a = await hashPassword('correct horse', cheap);
  const b = await hashPassword('correct horse', cheap);
  t.not(a, b, 'a fresh salt each time');
  t.ok(isPasswordHash(a));
  t.ok(await verifyPassword('correct horse', a));
  t.ok(await verifyPassword(Buffer.from('correct horse'), a));
  t.notOk(await verifyPassword('correct horsE', a));
  t.notOk(await verifyPassword('x', 'plain-text'), 'not a hash');
  t.notOk(await verifyPassword('x', '$scrypt$ln=30,r=8,p=1$AAAA$AAAA'), 'an absurd cost is refused, not computed');
  t.match(await hashPassword('x'), /^\$scrypt\$ln=14,r=8,p=5\$/, 'the default cost');
  const checks = await Promise.all(Array.from({ length: 5 }, () => verifyPassword('correct horse', a)));
  t.same(checks, [true, true, true, true, true], 'checks beyond the concurrency limit wait their turn');
});

t.test('device registry: add, list, remove, and a damaged file says where', async (t) => {
  const dir = t.testdir({ 'bad.json': '{"version":1,"devices":[{"name":"ECG 1","password_hash":"x"}]}', 'notjson.json': '{' });
  const registry = new DeviceRegistry(join(dir, 'sub', 'devices.json'));
  t.same(registry.list(), [], 'no file: no devices');
  registry.add({ name: 'ecg-1', passwordHash: await hashPassword('p', { log2N: 10, r: 8, p: 1 }), createdAt: 'now', description: 'ECG' });
  t.throws(() => registry.add({ name: 'ecg-1', passwordHash: 'x', createdAt: '', description: '' }), { code: 'USMP_E_DEVICE_EXISTS' });
  t.throws(() => registry.add({ name: 'Bad Name', passwordHash: 'x', createdAt: '', description: '' }), { code: 'USMP_E_USAGE' });
  t.same(
    new DeviceRegistry(registry.file).list().map((d) => d.name),
    ['ecg-1'],
    'persisted',
  );
  registry.remove('ecg-1');
  t.throws(() => registry.remove('ecg-1'), { code: 'USMP_E_DEVICE_UNKNOWN' });
  t.throws(() => new DeviceRegistry(join(dir, 'bad.json')).list(), { code: 'USMP_E_DEVICE_REGISTRY', message: /devices\[0\]\.name/ });
  t.throws(() => new DeviceRegistry(join(dir, 'notjson.json')).list(), { code: 'USMP_E_DEVICE_REGISTRY', message: /not JSON/ });
  writeFileSync(join(dir, 'wrong.json'), '{"devices":[]}');
  t.throws(() => new DeviceRegistry(join(dir, 'wrong.json')).get('x'), { message: /version/ });
});

t.test('usmp-edge device add|list|remove: the password once, only its hash kept', async (t) => {
  const dir = t.testdir({});
  const config = join(dir, 'config.json');
  writeFileSync(config, JSON.stringify({ broker: { devices_file: join(dir, 'devices.json') } }));
  const said: string[] = [];
  const documents: unknown[] = [];
  const out: Output = { say: (l) => said.push(l), json: (d) => documents.push(d) };
  t.equal(await runCli(['--config', config, 'device', 'add', 'ecg-1', '--description', 'ECG cart 1', '--json'], out), 0);
  const added = documents[0] as { password: string; publish: string; subscribe: string };
  t.match(added, { name: 'ecg-1', client_id: 'ecg-1', username: 'ecg-1', publish: 'devices/ecg-1/#', subscribe: 'devices/ecg-1/cmd/#' });
  t.ok(added.password.length >= 32, 'a long random password');
  const stored = (await import('node:fs')).readFileSync(join(dir, 'devices.json'), 'utf8');
  t.notOk(stored.includes(added.password), 'the registry holds no clear password');
  t.ok(await verifyPassword(added.password, new DeviceRegistry(join(dir, 'devices.json')).get('ecg-1')!.passwordHash), 'its hash checks');
  t.equal(await runCli(['--config', config, 'device', 'add', 'ecg-1'], out), 2, 'twice: refused');
  t.match(said.join('\n'), /USMP_E_DEVICE_EXISTS/);
  t.equal(await runCli(['--config', config, 'device', 'add', 'steth-1'], out), 0);
  t.match(said.join('\n'), /password: +\S{32}/, 'human output shows the password once');
  t.equal(await runCli(['--config', config, 'device', 'list', '--json'], out), 0);
  t.same(
    (documents.at(-1) as { devices: Array<{ name: string }> }).devices.map((d) => d.name),
    ['ecg-1', 'steth-1'],
  );
  t.notOk(JSON.stringify(documents.at(-1)).includes('scrypt'), 'list never shows hashes');
  t.equal(await runCli(['--config', config, 'device', 'remove', 'ecg-1'], out), 0);
  t.equal(await runCli(['--config', config, 'device', 'remove', 'ecg-1', '--json'], out), 2);
  t.equal(await runCli(['--config', config, 'device', 'list'], out), 0);
  t.match(said.at(-1), /steth-1/);
  t.equal(await runCli(['--config', config, 'device', 'add', 'Not Valid'], out), 2);
});
