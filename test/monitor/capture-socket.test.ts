import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CLI, waitUntil } from '../bridge/fixtures.js';
import { CaptureService } from '../../src/daemon/capture-service.js';
import { createLogger } from '../../src/log/logger.js';
import { parseCaptureRequest } from '../../src/monitor/rtp/capture-request.js';
import { exitOf } from '../fixtures/bounded.js';

// The installed split of privilege: the daemon holds no capability and connects
// to usmp-edge-capture.socket; systemd (Accept=yes, StandardInput/Output=socket) starts one
// helper per connection with the connection as its stdin and stdout. This test does what
// systemd does, with the real helper, so the daemon side and the helper side meet for real;
// the unit files themselves are booted in test/install/appliance-image.test.ts.

const SENDER = fileURLToPath(new URL('../fixtures/rtp-sender.mjs', import.meta.url));

function socketActivator(path: string): Promise<{ helpers: ChildProcess[]; close: () => Promise<void> }> {
  const helpers: ChildProcess[] = [];
  const server = createServer((connection: Socket) => {
    helpers.push(spawn(process.execPath, [CLI, 'capture-helper', '--request-on-stdin'], { stdio: [connection, connection, 'inherit'] }));
    connection.destroy(); // the helper holds its own copy of the descriptor, as under systemd
  });
  return new Promise((resolve) =>
    server.listen(path, () =>
      resolve({
        helpers,
        close: async () => {
          for (const h of helpers) if (h.exitCode === null && h.signalCode === null) h.kill('SIGKILL');
          await new Promise((r) => server.close(r));
        },
      }),
    ),
  );
}

const exited = (child: ChildProcess, timeoutMs: number): Promise<boolean> =>
  child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve(true)
    : new Promise((resolve) => {
        const timer = setTimeout(() => resolve(false), timeoutMs);
        child.once('exit', () => (clearTimeout(timer), resolve(true)));
      });

t.test('capture through the helper socket: live RTP, a killed helper is replaced, stopping ends the helper', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'usmp-capture-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const socketPath = join(dir, 'capture.sock');
  const activator = await socketActivator(socketPath);
  t.teardown(() => activator.close());
  const port = 20000 + Math.floor(Math.random() * 20000);
  const lines: string[] = [];
  const log = createLogger({ level: 'info', pretty: 'never', fd: 2, destination: { write: (line: string) => void lines.push(line) } });
  const service = new CaptureService({
    argv: ['/bin/false'],
    socketPath,
    iface: 'lo',
    filter: `udp port ${port}`,
    clockRates: {},
    idleMs: 30_000,
    minCallMs: 60_000,
    isStation: () => false,
    rttMs: () => undefined,
    log,
  });
  t.teardown(() => service.stop());
  service.start();

  t.ok(await waitUntil(() => service.status === 'running', 10_000), `the helper behind the socket is ready (${service.status} ${service.lastError ?? ''})`);
  t.equal(service.pid, undefined, 'the daemon started no process itself');
  await new Promise((resolve, reject) =>
    spawn(process.execPath, [SENDER, '127.0.0.1', String(port), '4660', '0', '50', '5', '40'], { stdio: 'ignore' }).once('exit', (code) =>
      code === 0 ? resolve(code) : reject(new Error(`sender exit ${code}`)),
    ),
  );
  t.ok(await waitUntil(() => service.calls.streams(Date.now())[0]?.packets === 50, 5000), 'all 50 RTP packets came through the socket');
  t.match(service.calls.streams(Date.now()), [{ ssrc: '0x00001234', packets: 50, lost: 0 }]);

  // The helper dies (kill -9): the connection closes, the service reports it and reconnects.
  const first = activator.helpers[0]!;
  first.kill('SIGKILL');
  t.ok(await waitUntil(() => service.restarts === 1, 5000), 'the closed connection is seen as the helper ending');
  t.match(service.lastError, /capture helper ended \(socket closed\)/);
  t.ok(await waitUntil(() => service.status === 'running' && activator.helpers.length === 2, 10_000), 'a new helper serves a new connection');
  t.ok(
    lines.some((l) => l.includes('"capture.helper_died"')),
    'the death is logged',
  );

  // The daemon stops (or dies): the socket closes and the helper ends by itself.
  await service.stop();
  t.ok(await exited(activator.helpers[1]!, 5000), 'the helper ended when the daemon closed its connection');
});

t.test('a helper behind the socket refuses a bad request before opening anything', async (t) => {
  t.throws(() => parseCaptureRequest('not json'), { code: 'USMP_E_CAPTURE_REQUEST' });
  t.throws(() => parseCaptureRequest('{"iface":"eth0; rm -rf /","filter":"udp"}'), { code: 'USMP_E_CAPTURE_REQUEST', message: /no valid interface/ });
  t.throws(() => parseCaptureRequest('{"iface":"a-very-long-interface-name","filter":"udp"}'), { code: 'USMP_E_CAPTURE_REQUEST' });
  t.throws(() => parseCaptureRequest(JSON.stringify({ iface: 'lo', filter: 'x'.repeat(2000) })), { code: 'USMP_E_CAPTURE_REQUEST' });
  t.same(parseCaptureRequest('{"iface":"eth0.10","filter":"udp"}'), { iface: 'eth0.10', filter: 'udp' });

  const helper = spawn(process.execPath, [CLI, 'capture-helper', '--request-on-stdin'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  helper.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  helper.stdin.end('{"iface":"../etc","filter":"udp"}\n');
  const code = await exitOf(helper, 'the capture helper given a bad request');
  t.not(code, 0, 'the helper exits with an error');
  t.match(stderr, /USMP_E_CAPTURE_REQUEST/);
});
