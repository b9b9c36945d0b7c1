import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, statSync } from 'node:fs';
import { createInterface, type Interface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { terminateChild } from '../exec/terminate.js';
import { LabError, run } from './exec.js';
import type { LinkImpairment } from './link-model.js';

const SOURCE = fileURLToPath(new URL('../../src/lab/delay-emulator.c', import.meta.url));
export const EMULATOR_BINARY = fileURLToPath(new URL('../../build/lab/usmp-lab-delay', import.meta.url));
const QUEUE_LIMIT_PACKETS = 65_536;

export interface EmulatorStats {
  received: number;
  sent: number;
  dropped_overflow: number;
  write_errors: number;
  held: number;
  max_held: number;
  /** Mean delay drawn for the packets taken in (delay ± jitter), before any lateness. */
  scheduled_mean_us: number;
  lateness_mean_us: number;
  lateness_max_us: number;
  /** Packets released more than 1 ms after their time (the emulator's thread was not running). */
  late_over_1ms: number;
}

/** Compiles the emulator when its binary is missing or older than its source. */
export async function ensureEmulatorBuilt(): Promise<string> {
  if (existsSync(EMULATOR_BINARY) && statSync(EMULATOR_BINARY).mtimeMs >= statSync(SOURCE).mtimeMs) return EMULATOR_BINARY;
  mkdirSync(new URL('../../build/lab/', import.meta.url), { recursive: true });
  const temporary = `${EMULATOR_BINARY}.${process.pid}.tmp`;
  await run(['gcc', '-O2', '-Wall', '-o', temporary, SOURCE, '-lm'], { timeoutMs: 60_000 }).catch((err: unknown) => {
    throw new LabError('cannot build the delay emulator (is gcc installed? scripts/setup.sh --for-tests installs it)', ['gcc', SOURCE], String(err));
  });
  renameSync(temporary, EMULATOR_BINARY); // atomic: parallel test files never run a half-written binary
  return EMULATOR_BINARY;
}

/** One running emulator: a TUN device in the router namespace holding one direction's packets. */
export class DelayEmulator {
  readonly #child: ChildProcess;
  readonly #lines: Interface;
  readonly #pending: Array<(line: string) => void> = [];
  #exited = false;

  private constructor(
    child: ChildProcess,
    readonly device: string,
  ) {
    this.#child = child;
    this.#lines = createInterface({ input: child.stdout! });
    this.#lines.on('line', (line) => this.#pending.shift()?.(line));
    child.once('exit', () => {
      this.#exited = true;
    });
  }

  static async start(ns: string, device: string, link: LinkImpairment, seed: number): Promise<DelayEmulator> {
    const binary = await ensureEmulatorBuilt();
    const argv = [
      'ip',
      'netns',
      'exec',
      ns,
      binary,
      device,
      String(Math.round((link.delayMs ?? 0) * 1000)),
      String(Math.round((link.jitterMs ?? 0) * 1000)),
      link.jitterDistribution ?? 'uniform',
      String(seed),
      link.reorder === false ? '0' : '1',
      String(QUEUE_LIMIT_PACKETS),
    ];
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const emulator = new DelayEmulator(child, device);
    const ready = await Promise.race([
      emulator.#nextLine(),
      new Promise<string>((resolve) => child.once('exit', () => resolve(''))),
      new Promise<string>((resolve) => setTimeout(() => resolve(''), 5_000).unref()),
    ]);
    if (!ready.startsWith('ready ')) {
      child.kill('SIGKILL');
      throw new LabError('delay emulator did not start', argv, stderr);
    }
    await run(['ip', 'netns', 'exec', ns, 'ip', 'link', 'set', device, 'up']);
    return emulator;
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  #nextLine(): Promise<string> {
    return new Promise((resolve) => this.#pending.push(resolve));
  }

  async stats(): Promise<EmulatorStats> {
    if (this.#exited) throw new LabError('delay emulator has exited', [this.device]);
    const line = this.#nextLine();
    this.#child.kill('SIGUSR1');
    return JSON.parse(await line) as EmulatorStats;
  }

  /** Stops the emulator; its TUN device disappears with it. */
  async stop(): Promise<void> {
    if (this.#exited) return;
    await terminateChild(this.#child);
    this.#lines.close();
  }
}
