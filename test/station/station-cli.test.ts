import t from 'tap';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { CLI } from '../lab/cli-in-lab.js';
import { within } from '../fixtures/bounded.js';
import { httpsGet } from '../fixtures/https-get.js';
import { readFileSync } from 'node:fs';

// `qualify --station` left alone: the session ends by itself at its time limit, the page's door
// closes with it, and the command says no place was measured (no report), on loopback.

t.test('a session nobody uses ends by itself and writes no report', async (t) => {
  const dir = t.testdir();
  const started = Date.now();
  const child = spawn(
    process.execPath,
    [
      CLI,
      'qualify',
      '--station',
      '--station-address',
      '127.0.0.1',
      '--station-port',
      '0',
      '--target',
      '127.0.0.1',
      '--session-minutes',
      '0.05',
      '--out',
      join(dir, 'out'),
    ],
    {
      env: { ...process.env, USMP_EDGE_STATION_CERT_FILE: join(dir, 'cert.pem'), USMP_EDGE_STATION_KEY_FILE: join(dir, 'key.pem') },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  const stderr: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const port = await within(
    'the station page to be announced',
    20_000,
    new Promise<number>((resolve) =>
      createInterface({ input: child.stderr }).on('line', (line) => {
        stderr.push(line);
        const m = /station port: (\d+)/.exec(line);
        if (m) resolve(Number(m[1]));
      }),
    ),
  );
  const ca = readFileSync(join(dir, 'cert.pem'), 'utf8');
  const probe = await httpsGet(`https://127.0.0.1:${port}/api/ping`, ca, 5000);
  t.equal(probe.status, 401, 'while it runs, the page answers and asks for the code');
  const code = await within('qualify --station to end by itself', 30_000, exited);
  const seconds = (Date.now() - started) / 1000;
  t.equal(code, 2, 'exit 2: nothing measured');
  t.match(stderr.join('\n'), /USMP_E_STATION_ENDED: the session ended before any place was measured/, 'it says why');
  t.ok(seconds >= 3, `it lasted its 3 s at least (${seconds.toFixed(1)} s)`);
  await t.rejects(httpsGet(`https://127.0.0.1:${port}/api/ping`, ca, 5000), 'the door is closed with the session');
});
