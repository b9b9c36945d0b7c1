import { execFileSync } from 'node:child_process';

const NEEDED = ['ip', 'tc', 'nft', 'iperf3', 'ping', 'gcc'];

/**
 * Why the lab cannot run here, or undefined when it can. Tests skip with this text, so a
 * developer without root sees the reason instead of a silent pass.
 */
export function labUnavailableReason(): string | undefined {
  if (process.platform !== 'linux') return 'the network lab needs Linux network namespaces';
  if (process.getuid?.() !== 0) return 'the network lab needs root (network namespaces, tc, nftables); CI runs as root';
  const missing = NEEDED.filter((tool) => !onPath(tool));
  if (missing.length > 0) return `the network lab needs ${missing.join(', ')} (run: sh scripts/setup.sh --for-tests as root)`;
  return undefined;
}

/** Why tests that run these programs cannot run here, or undefined. */
export function missingToolsReason(tools: readonly string[]): string | undefined {
  const missing = tools.filter((tool) => !onPath(tool));
  return missing.length > 0 ? `needs ${missing.join(', ')} (as root: sh scripts/setup.sh --for-tests)` : undefined;
}

function onPath(tool: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
