import t, { type Test } from 'tap';
import { execFile, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { Lab, labUnavailableReason } from '../lab/index.js';
import { CLI, cliIn } from '../lab/cli-in-lab.js';
import { freeTcpPorts } from '../../src/exec/ports.js';
import { missingToolsReason } from '../../src/lab/availability.js';
import { enrolResponder } from '../fixtures/responder-keys.js';

const noIperf = missingToolsReason(['iperf3']);
const needsIperf = noIperf ? { skip: noIperf } : {};

// Bad input gets one clear line with its code, exit 2, and the responder keeps serving.

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as NodeJS.ErrnoException).code ?? 1) : 0, stdout, stderr });
    });
  });
}

function firstLine(run: Run): string {
  return run.stderr.split('\n').find((l) => l.startsWith('usmp-edge: ')) ?? run.stderr;
}

async function freeUdpPort(): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  const { port } = s.address();
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** A responder on loopback with any free ports and one appliance enrolled; resolves with its STAMP port and the appliance's environment. */
async function loopbackResponder(t: Test, iperfPort: number): Promise<{ port: number; applianceEnv: Record<string, string> }> {
  const keys = enrolResponder('bad-input', t.testdir());
  const child = spawn(
    process.execPath,
    [CLI, 'responder', '--bind', '127.0.0.1', '--stamp-port', '0', '--iperf-port', String(iperfPort), '--iperf-pool', '1'],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...keys.responderEnv } },
  );
  t.teardown(() => {
    child.kill('SIGTERM');
  });
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (line.includes('responder ready')) resolve({ port: (JSON.parse(line) as { stamp_port: number }).stamp_port, applianceEnv: keys.applianceEnv });
    });
    child.once('exit', (code) => reject(new Error(`responder exited ${String(code)}`)));
  });
}

async function freeTcpPort(): Promise<number> {
  return (await freeTcpPorts(1))[0]!;
}

t.test('a nonsense flag or value', async (t) => {
  for (const args of [
    ['qualify', '--frobnicate'],
    ['probe', 'latency', '--target', '127.0.0.1', '--count', '-5'],
    ['probe', 'throughput', '--target', '127.0.0.1', '--direction', 'sideways'],
  ]) {
    const run = await cli(args);
    t.equal(run.code, 2, args.join(' '));
    t.match(firstLine(run), /^usmp-edge: USMP_E_USAGE: .+ — what to do: /);
    t.equal(run.stdout, '');
  }
});

t.test('responder absent: latency probe and qualify say so', async (t) => {
  const port = await freeUdpPort();
  const probe = await cli(['probe', 'latency', '--target', '127.0.0.1', '--port', String(port), '--count', '5', '--interval-ms', '10', '--json']);
  t.equal(probe.code, 2);
  t.match(firstLine(probe), /USMP_E_RESPONDER_ABSENT: no STAMP reply from 127\.0\.0\.1/);
  t.match(JSON.parse(probe.stdout), { error: { code: 'USMP_E_RESPONDER_ABSENT' } }, '--json still prints one document');
  const qualify = await cli(['qualify', '--target', '127.0.0.1', '--stamp-port', String(port), '--out', t.testdir()]);
  t.equal(qualify.code, 2);
  t.match(firstLine(qualify), /USMP_E_RESPONDER_ABSENT/);
});

t.test('iperf3 missing', async (t) => {
  const run = await cli(['probe', 'throughput', '--target', '127.0.0.1', '--direction', 'up', '--duration', '1'], { PATH: '/nonexistent' });
  t.equal(run.code, 2);
  t.match(firstLine(run), /USMP_E_DEPENDENCY_MISSING: iperf3 is not installed — what to do: install it: apt-get install iperf3/);
});

t.test('no iperf3 server where one is expected', needsIperf, async (t) => {
  const run = await cli([
    'probe',
    'throughput',
    '--target',
    '127.0.0.1',
    '--port',
    String(await freeTcpPort()),
    '--pool',
    '1',
    '--direction',
    'down',
    '--duration',
    '1',
  ]);
  t.equal(run.code, 2);
  t.match(firstLine(run), /USMP_E_RESPONDER_ABSENT: no iperf3 server answers/);
});

t.test('ports in use: STAMP and iperf3', needsIperf, async (t) => {
  const held = createSocket('udp4');
  await new Promise<void>((r) => held.bind(0, '127.0.0.1', () => r()));
  t.teardown(() => held.close());
  const stamp = await cli(['responder', '--bind', '127.0.0.1', '--stamp-port', String(held.address().port), '--iperf-port', String(await freeTcpPort())]);
  t.equal(stamp.code, 2);
  t.match(firstLine(stamp), /USMP_E_PORT_UNAVAILABLE: cannot listen on UDP 127\.0\.0\.1:\d+ \(EADDRINUSE\)/);

  const tcp = createServer();
  await new Promise<void>((r) => tcp.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => tcp.close());
  const iperf = await cli([
    'responder',
    '--bind',
    '127.0.0.1',
    '--stamp-port',
    '0',
    '--iperf-port',
    String((tcp.address() as { port: number }).port),
    '--iperf-pool',
    '1',
  ]);
  t.equal(iperf.code, 2);
  t.match(firstLine(iperf), /USMP_E_PORT_UNAVAILABLE: iperf3 server cannot listen on TCP \d+/);
});

t.test('malformed STAMP packets to the responder: it keeps serving', needsIperf, async (t) => {
  const { port, applianceEnv } = await loopbackResponder(t, await freeTcpPort());
  const junk = createSocket('udp4');
  t.teardown(() => junk.close());
  for (const p of [Buffer.alloc(3), Buffer.from('not stamp at all'), Buffer.alloc(2000, 0xff), Buffer.concat([Buffer.alloc(44), Buffer.from([0, 4, 0, 99])])]) {
    junk.send(p, port, '127.0.0.1');
  }
  const run = await cli(['probe', 'latency', '--target', '127.0.0.1', '--port', String(port), '--count', '20', '--interval-ms', '5', '--json'], applianceEnv);
  t.equal(run.code, 0);
  t.match(JSON.parse(run.stdout), { sent: 20, received: 20 });
});

const unavailable = labUnavailableReason();
t.test('unreachable target (no host at that address, in the lab)', unavailable ? { skip: unavailable } : {}, async (t) => {
  const lab = await Lab.create();
  t.teardown(() => lab.destroy());
  const nobody = '198.19.1.99';
  const latency = await cliIn(lab, 'appliance', ['probe', 'latency', '--target', nobody, '--count', '3', '--interval-ms', '10']);
  t.equal(latency.code, 2);
  t.match(latency.stderr, /USMP_E_RESPONDER_ABSENT: no STAMP reply from 198\.19\.1\.99/);
  const throughput = await cliIn(lab, 'appliance', ['probe', 'throughput', '--target', nobody, '--pool', '1', '--direction', 'up', '--duration', '1']);
  t.equal(throughput.code, 2);
  t.match(throughput.stderr, /USMP_E_(TARGET_UNREACHABLE|RESPONDER_ABSENT): /);
});
