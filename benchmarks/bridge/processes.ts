import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { WaitTimeout, within } from '../../test/fixtures/bounded.js';

// Runs benchmarks/bridge/mqtt-tool.ts as a separate process (optionally inside a lab namespace)
// and reads its JSON line back.

const TOOL = fileURLToPath(new URL('./mqtt-tool.ts', import.meta.url));
type Wrap = (argv: string[]) => string[];
const plain: Wrap = (a) => a;

export interface Tool {
  child: ChildProcess;
  /** Resolves with the JSON line the tool prints at the end. */
  result: Promise<Record<string, number>>;
  ready: Promise<void>;
  /** The last progress line the tool printed on stderr, if any. */
  progress(): string | undefined;
}

export function startTool(args: string[], wrap: Wrap = plain, env: Record<string, string> = {}): Tool {
  const argv = wrap([process.execPath, '--import', 'tsx', TOOL, ...args]);
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let out = '';
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  let markReady: () => void = () => undefined;
  const ready = new Promise<void>((r) => (markReady = r));
  const result = new Promise<Record<string, number>>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('ready\n')) markReady();
    });
    child.once('exit', (code) => {
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line) resolve(JSON.parse(line) as Record<string, number>);
      else reject(new Error(`mqtt-tool ${args[0]} exited ${code}: ${err.slice(-500)}`));
    });
  });
  const progress = () =>
    err
      .split('\n')
      .filter((l) => l.startsWith('progress '))
      .at(-1)
      ?.slice('progress '.length);
  return { child, result, ready, progress };
}

/** The tool's result within `ms`; otherwise it is killed and the error names what it had done. */
export async function resultWithin(tool: Tool, what: string, ms: number): Promise<Record<string, number>> {
  return within(what, ms, tool.result).catch((err: unknown) => {
    tool.child.kill('SIGKILL');
    throw err instanceof WaitTimeout ? new WaitTimeout(what, ms, tool.progress() ?? 'no progress reported') : err;
  });
}

/** The tool's readiness within `ms` (or its early end, which `result` reports). */
export function readyWithin(tool: Tool, what: string, ms = 30_000): Promise<void> {
  return within(`${what} to be ready`, ms, Promise.race([tool.ready, tool.result.then(() => undefined)]));
}

/** Resident and peak resident memory of a process, MiB, from /proc. */
export function memoryOf(pid: number): { rss_mib: number; peak_rss_mib: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(status)?.[1] ?? NaN);
  return { rss_mib: Math.round((kib('VmRSS') / 1024) * 10) / 10, peak_rss_mib: Math.round((kib('VmHWM') / 1024) * 10) / 10 };
}
