import { execFile, execFileSync } from 'node:child_process';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** A lab command that failed: the command line and what it printed, for the test log. */
export class LabError extends Error {
  readonly code = 'USMP_E_LAB';
  constructor(
    message: string,
    readonly argv: readonly string[],
    readonly stderr = '',
  ) {
    super(`${message}: ${argv.join(' ')}${stderr ? `\n${stderr.trim()}` : ''}`);
    this.name = 'LabError';
  }
}

export interface RunOptions {
  timeoutMs?: number;
  /** Resolve with the result instead of throwing on a non-zero exit. */
  allowFailure?: boolean;
  input?: string;
  /** The child's environment (default: this process's). */
  env?: NodeJS.ProcessEnv;
}

/** Runs argv (no shell), collecting output; rejects with LabError on failure or timeout. */
export function run(argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const [file, ...args] = argv;
  if (!file) return Promise.reject(new LabError('empty command', argv));
  return new Promise((resolve, reject) => {
    const child = execFile(
      file,
      args,
      { timeout: options.timeoutMs ?? 30_000, maxBuffer: 64 * 1024 * 1024, killSignal: 'SIGKILL', ...(options.env ? { env: options.env } : {}) },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
        if (error && !options.allowFailure) {
          reject(new LabError(error.killed ? 'timed out' : `exit ${String(error.code)}`, argv, stderr));
          return;
        }
        resolve({ code, stdout, stderr });
      },
    );
    if (options.input !== undefined) child.stdin?.end(options.input);
  });
}

/** Synchronous variant, for teardown inside 'exit' handlers where nothing async runs. */
export function runSync(argv: readonly string[]): boolean {
  const [file, ...args] = argv;
  if (!file) return false;
  try {
    execFileSync(file, args, { stdio: 'ignore', timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
}

export function inNamespace(ns: string, argv: readonly string[]): string[] {
  return ['ip', 'netns', 'exec', ns, ...argv];
}
