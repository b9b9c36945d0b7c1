import { execFileSync } from 'node:child_process';
import { cpus, release } from 'node:os';

/** One row of a benchmark's table: what was measured, by which tool, and the figures. */
export interface BenchRow {
  /** Rows of one group share a table in RESULTS.md. */
  group: string;
  case: string;
  tool: string;
  figures: Record<string, number | string>;
}

export interface BenchResult {
  name: string;
  title: string;
  command: string;
  date: string;
  machine: { cpu: string; cores: number; kernel: string };
  versions: Record<string, string>;
  notes: string[];
  rows: BenchRow[];
}

export interface Benchmark {
  name: string;
  title: string;
  /** Why the run cannot happen here (no root, a tool missing), or undefined. */
  unavailable?: () => string | undefined;
  run(log: (line: string) => void): Promise<{ rows: BenchRow[]; notes: string[] }>;
}

function versionOf(argv: string[]): string {
  try {
    return execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
      .split('\n')[0]!
      .trim();
  } catch {
    return 'not installed';
  }
}

export function describeMachine(): BenchResult['machine'] {
  return { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, kernel: release() };
}

export function toolVersions(): Record<string, string> {
  return {
    node: process.version,
    iperf3: versionOf(['iperf3', '--version']),
    irtt: versionOf(['irtt', 'version']),
    mosquitto: versionOf(['sh', '-c', 'mosquitto -h | head -1']),
  };
}
