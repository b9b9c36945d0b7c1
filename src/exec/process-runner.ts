import { spawn } from 'node:child_process';
import { UsmpError } from '../errors.js';

// The one way the product starts external programs (iperf3, nft, tc): an interface, so tests
// can substitute faults, and one implementation that always reaps what it starts.

export interface RunOutcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

export interface RunRequest {
  argv: readonly string[];
  timeoutMs: number;
  signal?: AbortSignal;
  input?: string;
  env?: NodeJS.ProcessEnv;
}

export interface ProcessRunner {
  run(request: RunRequest): Promise<RunOutcome>;
}

/** Debian package that provides each program we run, for the "what to do" of an error. */
const PACKAGE_OF: Record<string, string> = { iperf3: 'iperf3', nft: 'nftables', tc: 'iproute2', ip: 'iproute2', irtt: 'irtt', ethtool: 'ethtool' };

export const systemRunner: ProcessRunner = {
  run({ argv, timeoutMs, signal, input, env }) {
    const [file, ...args] = argv;
    return new Promise((resolve, reject) => {
      const child = spawn(file!, args, { stdio: ['pipe', 'pipe', 'pipe'], env: env ?? process.env });
      let stdout = '';
      let stderr = '';
      let timedOut = false;
      child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      const stop = (): void => {
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 1_000).unref();
      };
      const timer = setTimeout(() => {
        timedOut = true;
        stop();
      }, timeoutMs);
      signal?.addEventListener('abort', stop, { once: true });
      child.once('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', stop);
        if (err.code === 'ENOENT') {
          const pkg = PACKAGE_OF[file!] ?? file!;
          reject(
            new UsmpError('USMP_E_DEPENDENCY_MISSING', `${file} is not installed`, {
              hint: `install it: apt-get install ${pkg} (as root)`,
              details: { program: file },
            }),
          );
        } else reject(err);
      });
      child.once('close', (code, sig) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', stop);
        resolve({ code, signal: sig, stdout, stderr, timedOut });
      });
      child.stdin.on('error', () => undefined); // a program that exits without reading its input
      child.stdin.end(input ?? '');
    });
  },
};
