import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { inNamespace, run, runSync } from './exec.js';

// Lab namespaces are named ulab<pid><letter>-<role>: the pid tells a later run whether the
// creator is still alive, so leftovers of a crashed run can be found and removed.
const PREFIX = 'ulab';
const NAME = /^ulab(\d+)[a-z]+-[a-z]+$/;

let labCounter = 0;

export function newLabId(): string {
  let n = labCounter++;
  let letters = '';
  do {
    letters = String.fromCharCode(97 + (n % 26)) + letters;
    n = Math.floor(n / 26) - 1;
  } while (n >= 0);
  return `${PREFIX}${process.pid}${letters}`;
}

export function listNamespaces(): string[] {
  try {
    return readdirSync('/run/netns');
  } catch {
    return [];
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Kills what runs inside a namespace, then deletes it. Synchronous: safe in exit handlers. */
export function destroyNamespaceSync(ns: string): void {
  killNamespaceProcessesSync(ns);
  runSync(['ip', 'netns', 'del', ns]);
}

function killNamespaceProcessesSync(ns: string): void {
  let pids: number[];
  try {
    pids = readNamespacePids(ns);
  } catch {
    return;
  }
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

function readNamespacePids(ns: string): number[] {
  // `ip netns pids` reads /proc; a sync exec keeps this usable from an 'exit' handler.
  const out = execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8', timeout: 10_000 });
  return out
    .split('\n')
    .map((line) => Number(line.trim()))
    .filter((pid) => Number.isInteger(pid) && pid > 0 && pid !== process.pid);
}

/** Removes namespaces left by lab runs whose process has died (crash, SIGKILL, timeout). */
export function removeStaleNamespaces(): string[] {
  const removed: string[] = [];
  for (const ns of listNamespaces()) {
    const match = NAME.exec(ns);
    if (!match?.[1]) continue;
    const pid = Number(match[1]);
    if (pid === process.pid || isAlive(pid)) continue;
    destroyNamespaceSync(ns);
    removed.push(ns);
  }
  return removed;
}

export async function createNamespace(ns: string): Promise<void> {
  await run(['ip', 'netns', 'add', ns]);
  await run(inNamespace(ns, ['ip', 'link', 'set', 'lo', 'up']));
}
