import t from 'tap';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { IClientOptions, MqttClient } from 'mqtt';
import { freeTcpPorts } from '../../src/exec/ports.js';
import { HOSPITAL_USERS, HospitalBroker } from '../fixtures/hospital-mosquitto.js';
import { TestCa } from '../fixtures/test-pki.js';
import { Appliance, connectDevice, HospitalVerifier, REMOTE_PREFIX, waitUntil, type Device } from './fixtures.js';
import { missingCommand } from './requirements.js';

// The encrypted paths, end to end with real peers: devices on a TLS listener that requires a
// client certificate (whose CN must be the device's name) and on a WebSocket listener; the
// bridge to a mosquitto that only takes TLS with our client certificate; and a hospital whose
// certificate does not chain to the configured CA is refused.

const missing = missingCommand('mosquitto') ?? missingCommand('openssl');
const ECG: Device = { name: 'ecg-1', password: 'ecg-1-password-0123456789' };
const OTO: Device = { name: 'oto-1', password: 'oto-1-password-0123456789' };

/** A device connection that may be refused: the client, or the CONNACK code / TLS error code. */
function attempt(url: string, device: Device, options: IClientOptions = {}): Promise<{ client?: MqttClient; code?: number | string }> {
  return connectDevice(url, device, options).then(
    (client) => ({ client }),
    (err: Error & { code?: number | string }) => ({ code: err.code ?? err.message }),
  );
}

t.test('TLS and WebSocket listeners, and a TLS bridge with a client certificate', missing ? { skip: missing } : {}, async (t) => {
  const ca = new TestCa('usmp test CA');
  t.teardown(() => ca.cleanup());
  const server = ca.issue('127.0.0.1', 'IP:127.0.0.1');
  const ecgCert = ca.issue('ecg-1');
  const otoCert = ca.issue('oto-1');
  const bridgeCert = ca.issue('usmp-bridge');
  for (const file of [server.keyFile, ecgCert.keyFile, otoCert.keyFile, bridgeCert.keyFile]) chmodSync(file, 0o600);
  const passwordFile = join(ca.dir, 'hospital-password');
  writeFileSync(passwordFile, `${HOSPITAL_USERS.bridge.password}\n`, { mode: 0o600 });

  const [hospitalTlsPort] = await freeTcpPorts(1);
  const tlsUrl = `mqtts://127.0.0.1:${hospitalTlsPort}`;
  const hospital = await HospitalBroker.start({
    extraConfig: [
      `listener ${hospitalTlsPort} 127.0.0.1`,
      `cafile ${ca.caFile}`,
      `certfile ${server.certFile}`,
      `keyfile ${server.keyFile}`,
      'require_certificate true',
    ],
  });
  t.teardown(() => hospital.destroy());
  const verifier = await HospitalVerifier.start(hospital); // the test's own view, on the plain loopback listener
  t.teardown(() => verifier.close());

  const appliance = await Appliance.create(hospital, [ECG, OTO], {
    broker: {
      listeners: [
        { type: 'tls', host: '127.0.0.1', port: 0, cert_file: server.certFile, key_file: server.keyFile, ca_file: ca.caFile, require_client_cert: true },
        { type: 'ws', host: '127.0.0.1', port: 0 },
      ],
    },
    bridge: {
      upstream: {
        url: tlsUrl,
        username: HOSPITAL_USERS.bridge.username,
        password_file: passwordFile,
        ca_file: ca.caFile,
        cert_file: bridgeCert.certFile,
        key_file: bridgeCert.keyFile,
      },
    },
  });
  t.teardown(() => appliance.destroy());
  await appliance.start();
  const portOf = (type: string) => appliance.events('broker.listening').find((e) => e['type'] === type)?.['port'] as number;
  const tlsDeviceUrl = `mqtts://127.0.0.1:${portOf('tls')}`;
  t.ok(
    await waitUntil(() => appliance.events('bridge.connected').length > 0, 10_000),
    'the bridge is connected to the TLS-only hospital with its client certificate',
  );

  const clients: MqttClient[] = [];
  t.teardown(() => Promise.all(clients.map((c) => c.endAsync(true))));
  const connected = (a: { client?: MqttClient }) => (a.client ? (clients.push(a.client), true) : false);
  const withCert = (cert: { cert: string; key: string }): IClientOptions => ({ ca: [ca.caPem], cert: cert.cert, key: cert.key, rejectUnauthorized: true });

  const ecg = await attempt(tlsDeviceUrl, ECG, withCert(ecgCert));
  t.ok(connected(ecg), 'ecg-1 with its own certificate and password is accepted on TLS');
  await ecg.client!.publishAsync('devices/ecg-1/ecg', 'tls-beat', { qos: 1 });

  const impostor = await attempt(tlsDeviceUrl, ECG, withCert(otoCert));
  t.notOk(connected(impostor), "ecg-1's password with oto-1's certificate is refused");
  t.equal(impostor.code, 5, 'CONNACK 5 (not authorised)');
  t.ok(await waitUntil(() => appliance.events('device.refused').some((e) => e['reason'] === 'certificate_mismatch'), 5000), 'logged as certificate_mismatch');

  const noCert = await attempt(tlsDeviceUrl, ECG, { ca: [ca.caPem], rejectUnauthorized: true });
  t.notOk(connected(noCert), 'no client certificate: the TLS handshake is refused');
  t.ok(await waitUntil(() => appliance.events('device.tls_error').length > 0, 5000), 'logged as device.tls_error');

  const oto = await attempt(`ws://127.0.0.1:${portOf('ws')}/mqtt`, OTO);
  t.ok(connected(oto), 'oto-1 is accepted over WebSocket');
  await oto.client!.publishAsync('devices/oto-1/image', 'ws-image', { qos: 1 });

  t.ok(await waitUntil(() => verifier.received.length >= 2, 10_000), 'both messages reached the hospital over the TLS bridge');
  t.same(verifier.received.map((m) => `${m.topic} ${m.payload}`).sort(), [`${REMOTE_PREFIX}/ecg-1/ecg tls-beat`, `${REMOTE_PREFIX}/oto-1/image ws-image`]);
  t.ok(
    verifier.received.every((m) => m.id !== undefined),
    'each with its stable id',
  );
  t.notOk(
    appliance.lines.some((l) => l.includes(ECG.password) || l.includes(HOSPITAL_USERS.bridge.password) || l.includes('PRIVATE KEY')),
    'no password or key in the logs',
  );
});

t.test('a hospital certificate from another CA is refused; nothing leaves the outbox', missing ? { skip: missing } : {}, async (t) => {
  const ca = new TestCa('usmp test CA');
  const stranger = new TestCa('someone else');
  t.teardown(() => {
    ca.cleanup();
    stranger.cleanup();
  });
  const server = stranger.issue('127.0.0.1', 'IP:127.0.0.1');
  chmodSync(server.keyFile, 0o600);
  const passwordFile = join(ca.dir, 'hospital-password');
  writeFileSync(passwordFile, `${HOSPITAL_USERS.bridge.password}\n`, { mode: 0o600 });
  const [tlsPort] = await freeTcpPorts(1);
  const hospital = await HospitalBroker.start({ extraConfig: [`listener ${tlsPort} 127.0.0.1`, `certfile ${server.certFile}`, `keyfile ${server.keyFile}`] });
  t.teardown(() => hospital.destroy());
  const verifier = await HospitalVerifier.start(hospital);
  t.teardown(() => verifier.close());

  const appliance = await Appliance.create(hospital, [ECG], {
    bridge: { upstream: { url: `mqtts://127.0.0.1:${tlsPort}`, username: HOSPITAL_USERS.bridge.username, password_file: passwordFile, ca_file: ca.caFile } },
  });
  t.teardown(() => appliance.destroy());
  await appliance.start();
  const ecg = await connectDevice(appliance.url, ECG);
  t.teardown(() => ecg.endAsync(true));
  await ecg.publishAsync('devices/ecg-1/ecg', 'kept', { qos: 1 });
  t.ok(await waitUntil(() => appliance.events('bridge.error').length > 0, 10_000), 'the TLS error is logged');
  const error = String(appliance.events('bridge.error')[0]?.['err']);
  t.match(error, /certificate|self.signed|issuer/i, `it says why: ${error}`);
  t.notOk(appliance.events('bridge.connected').length > 0, 'never connected');
  t.equal(verifier.received.length, 0, 'nothing reached the impostor hospital');
  const stats = await waitUntil(() => appliance.events('bridge.stats').some((e) => e['outbox_depth'] === 1), 5000);
  t.ok(stats, 'the message waits in the outbox');
});
