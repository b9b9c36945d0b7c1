import t, { type Test } from 'tap';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { CLI } from '../lab/cli-in-lab.js';
import { runThroughput } from '../../src/measure/iperf3/client.js';
import { freeTcpPorts } from '../../src/exec/ports.js';
import { missingToolsReason } from '../../src/lab/availability.js';
import { readFileSync } from 'node:fs';
import { parseResponderCredentials, type IperfCredential } from '../../src/responder/appliance-credentials.js';
import { enrolResponder } from '../fixtures/responder-keys.js';

const missing = missingToolsReason(['iperf3']);
const opts = missing ? { skip: missing } : {};

// The responder's iperf3 servers end a test that exceeds the configured rate ceiling, and the
// pool lets a second auditor in while the first one measures.

/** A responder with one appliance enrolled; resolves with that appliance's iperf3 credential. */
async function responder(t: Test, firstPort: number, pool: number, env: NodeJS.ProcessEnv = {}): Promise<IperfCredential> {
  const keys = enrolResponder('limits', t.testdir());
  const child = spawn(
    process.execPath,
    [CLI, 'responder', '--bind', '127.0.0.1', '--stamp-port', '0', '--iperf-port', String(firstPort), '--iperf-pool', String(pool)],
    { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...keys.responderEnv, ...env } },
  );
  t.teardown(() => {
    child.kill('SIGTERM');
  });
  await new Promise<void>((resolve, reject) => {
    createInterface({ input: child.stdout }).on('line', (l) => l.includes('responder ready') && resolve());
    child.once('exit', (c) => reject(new Error(`responder exited ${String(c)}`)));
  });
  return parseResponderCredentials(readFileSync(keys.credentialsFile, 'utf8'), keys.credentialsFile).iperf3;
}

t.test('a test above responder.iperf_max_mbps is ended by the server', opts, async (t) => {
  const [port] = await freeTcpPorts(1);
  const credential = await responder(t, port!, 1, { USMP_EDGE_RESPONDER_IPERF_MAX_MBPS: '100' });
  await t.rejects(
    runThroughput({ credential, target: '127.0.0.1', ports: [port!], direction: 'up', protocol: 'tcp', durationS: 8 }),
    { code: 'USMP_E_IPERF_FAILED' },
    'loopback runs at Gbit/s: far above 100 Mbit/s',
  );
});

t.test('two auditors at once: the second one gets the next server of the pool', opts, async (t) => {
  const [first] = await freeTcpPorts(1);
  // consecutive ports: hope the next one is free too, as the responder needs
  const credential = await responder(t, first!, 2);
  const [a, b] = await Promise.all([
    runThroughput({ credential, target: '127.0.0.1', ports: [first!, first! + 1], direction: 'down', protocol: 'tcp', durationS: 2 }),
    new Promise((r) => setTimeout(r, 300)).then(() =>
      runThroughput({ credential, target: '127.0.0.1', ports: [first!, first! + 1], direction: 'down', protocol: 'tcp', durationS: 2 }),
    ),
  ]);
  t.same([a.port, b.port].sort(), [first!, first! + 1], 'each got its own server');
  t.ok(a.down!.mbps > 0 && b.down!.mbps > 0);
});
