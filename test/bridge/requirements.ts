import { spawnSync } from 'node:child_process';

/** Why a test cannot run here (a program it needs is missing), or undefined. */
export function missingCommand(command: string): string | undefined {
  if (spawnSync('sh', ['-c', `command -v ${command}`]).status === 0) return undefined;
  return `${command} is not installed (as root, npm test installs it)`;
}
