import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { ADDRESSES, type Lab } from '../../src/lab/lab.js';

// The built CLI, run inside lab namespaces: how the integration tests drive the product.

export const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));

/** Starts `usmp-edge responder` in the hospital namespace; resolves when it logs "ready". */
export async function startResponder(lab: Lab, extra: string[] = []): Promise<{ stampPort: number; log: string[] }> {
  const child = lab.spawn('hospital', [process.execPath, CLI, 'responder', '--bind', ADDRESSES.hospital, '--stamp-port', '862', '--iperf-port', '5201', '--iperf-pool', '2', ...extra]);
  const log: string[] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`responder did not start:\n${log.join('\n')}`)), 10_000);
    createInterface({ input: child.stderr! }).on('line', (line) => log.push(line));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      log.push(line);
      if (line.includes('responder ready')) {
        clearTimeout(timer);
        resolve({ stampPort: (JSON.parse(line) as { stamp_port: number }).stamp_port, log });
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
