import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import { UsmpError } from '../../errors.js';
import { freeTcpPorts } from '../../exec/ports.js';
import { labUnavailableReason } from '../../lab/availability.js';
import { ADDRESSES, Lab } from '../../lab/lab.js';
import { encodeErrorEstimate } from '../../measure/stamp/clock.js';
import { StampReflector } from '../../measure/stamp/reflector.js';
import { IperfServerPool } from '../../measure/iperf3/server-pool.js';
import type { CliContext } from '../context.js';
import { EXIT, reportError } from '../output.js';
import { runQualifyCommand } from './qualify.js';

// The README's main command: a real quick qualification on an embedded default.
// As root: a lab link shaped like a weak site link (8 Mbit/s up, 20 down, 250 ms of buffer:
// fine when idle, bloated under load), the responder in the "hospital" namespace and the
// qualification from the "appliance" one. Otherwise: a responder on loopback.

export const DEMO_LINK = { up: { rateMbit: 8, bufferMs: 250 }, down: { rateMbit: 20, bufferMs: 250 } } as const;
const CLI = fileURLToPath(new URL('../../cli.js', import.meta.url));

export function registerDemoCommand(program: Command, context: () => CliContext, setExit: (code: number) => void): void {
  program
    .command('demo')
    .description('the main job on an embedded default: a responder, a quick qualification against it, the verdict and the report')
    .option('--loopback', 'use loopback even as root')
    .option('--out <dir>', 'where the report goes (default: qualify.out_dir/demo-<date>)')
    .action(async (o: { loopback?: boolean; out?: string }) => {
      const ctx = context();
      try {
        const out = o.out ?? join(ctx.config().values.qualify.out_dir, `demo-${new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19)}`);
        const why = o.loopback ? 'asked for loopback' : labUnavailableReason();
        if (why) {
          ctx.out.say(`usmp-edge demo: responder on loopback (${why}); figures are those of this machine, not of a link`);
          await loopbackDemo(ctx, out);
        } else {
          ctx.out.say(
            `usmp-edge demo: a lab link shaped like a weak site link (up ${DEMO_LINK.up.rateMbit} Mbit/s, down ${DEMO_LINK.down.rateMbit} Mbit/s, ${DEMO_LINK.up.bufferMs} ms of buffer)`,
          );
          await labDemo(ctx, out);
        }
        // The demo succeeded if it produced a verdict, whatever the verdict.
        setExit(EXIT.OK);
      } catch (err) {
        setExit(reportError(err, ctx.out, false));
      }
    });
}

async function loopbackDemo(ctx: CliContext, out: string): Promise<void> {
  const reflector = new StampReflector({
    bind: '127.0.0.1',
    port: 0,
    mode: 'stateful',
    maxSessions: 64,
    maxPpsPerPeer: 10_000,
    errorEstimate: encodeErrorEstimate({ synchronized: false, errorSeconds: 0.1 }),
  });
  const ports = await freeTcpPorts(2);
  const pool = new IperfServerPool({ bind: '127.0.0.1', firstPort: ports[0]!, size: 1 });
  try {
    const { port } = await reflector.start();
    await pool.start();
    await runQualifyCommand(ctx, {
      target: '127.0.0.1',
      stampPort: port,
      iperfPort: ports[0]!,
      iperfPool: 1,
      out,
      profile: 'teleconsultation-hd',
      plan: 'quick',
    });
  } finally {
    await pool.stop();
    await reflector.stop();
  }
}

async function labDemo(ctx: CliContext, out: string): Promise<void> {
  const lab = await Lab.create({ up: DEMO_LINK.up, down: DEMO_LINK.down });
  // As at a hospital: the responder answers enrolled appliances only, so the demo appliance is
  // enrolled first (its credentials and the responder's keys in a directory of the demo's own).
  const keys = mkdtempSync(join(tmpdir(), 'usmp-edge-demo-'));
  try {
    lab.setEnvironment('hospital', {
      USMP_EDGE_RESPONDER_KEYS_FILE: join(keys, 'appliances.json'),
      USMP_EDGE_RESPONDER_IPERF_RSA_KEY_FILE: join(keys, 'iperf3-rsa.pem'),
    });
    const credentials = join(keys, 'demo-appliance.json');
    await lab.exec('hospital', [process.execPath, CLI, 'responder-keys', 'enroll', 'demo-appliance', '--out', credentials], { timeoutMs: 60_000 });
    lab.setEnvironment('appliance', { USMP_EDGE_QUALIFY_RESPONDER_CREDENTIALS_FILE: credentials });
    const responder = lab.spawn('hospital', [
      process.execPath,
      CLI,
      'responder',
      '--bind',
      ADDRESSES.hospital,
      '--stamp-port',
      '862',
      '--iperf-port',
      '5201',
      '--iperf-pool',
      '2',
      '--log-level',
      'info',
    ]);
    responder.stderr?.resume(); // never let an unread pipe block it
    await waitForLine(responder.stdout!, /responder ready/, 10_000, 'the demo responder did not start');
    const qualify = lab.spawn(
      'appliance',
      [
        process.execPath,
        CLI,
        'qualify',
        '--target',
        ADDRESSES.hospital,
        '--iperf-pool',
        '2',
        '--profile',
        'teleconsultation-hd',
        '--plan',
        'quick',
        '--out',
        out,
      ],
      { stdio: ['ignore', 'ignore', 'inherit'] },
    );
    const code = await new Promise<number | null>((resolve) => qualify.once('exit', resolve));
    if (code !== EXIT.OK && code !== EXIT.MEASURED_FAIL)
      throw new UsmpError('USMP_E_INTERNAL', `the demo qualification ended with code ${String(code)} (see above)`);
  } finally {
    await lab.destroy();
    rmSync(keys, { recursive: true, force: true });
  }
}

function waitForLine(stream: NodeJS.ReadableStream, pattern: RegExp, timeoutMs: number, message: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: stream });
    const timer = setTimeout(() => reject(new UsmpError('USMP_E_INTERNAL', message)), timeoutMs);
    lines.on('line', (line) => {
      if (pattern.test(line)) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
}
