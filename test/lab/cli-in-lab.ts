import { rmSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { ADDRESSES, type Lab } from '../../src/lab/lab.js';
import { enrolResponder } from '../fixtures/responder-keys.js';

// The built CLI, run inside lab namespaces: how the integration tests drive the product.

export const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));

/**
 * Starts `usmp-edge responder` in the hospital namespace as shipped (responder.auth required),
 * with one appliance enrolled by `responder-keys enroll`; resolves when it logs "ready". The
 * appliance's credentials become qualify.responder_credentials_file of every later command the
 * lab runs on the appliance and the unit's host (their environment); a daemon started another
 * way takes `credentialsFile` in its configuration.
 */
export async function startResponder(lab: Lab, extra: string[] = []): Promise<{ stampPort: number; log: string[]; credentialsFile: string }> {
  const keys = enrolResponder();
  lab.onDestroy(() => rmSync(keys.dir, { recursive: true, force: true }));
  lab.setEnvironment('appliance', keys.applianceEnv);
  lab.setEnvironment('usmp', keys.applianceEnv);
  lab.setEnvironment('hospital', keys.responderEnv);
  const child = lab.spawn('hospital', [
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
    ...extra,
  ]);
  const log: string[] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`responder did not start:\n${log.join('\n')}`)), 10_000);
    createInterface({ input: child.stderr! }).on('line', (line) => log.push(line));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      log.push(line);
      if (line.includes('responder ready')) {
        clearTimeout(timer);
        resolve({ stampPort: (JSON.parse(line) as { stamp_port: number }).stamp_port, log, credentialsFile: keys.credentialsFile });
      }
    });
    child.once('exit', (code) => reject(new Error(`responder exited ${String(code)}:\n${log.join('\n')}`)));
  });
}

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
  seconds: number;
}

export async function cliIn(lab: Lab, role: 'appliance' | 'hospital' | 'usmp', args: string[], timeoutMs = 180_000): Promise<CliRun> {
  const started = Date.now();
  const result = await lab.exec(role, [process.execPath, CLI, ...args], { allowFailure: true, timeoutMs });
  return { ...result, seconds: (Date.now() - started) / 1000 };
}
