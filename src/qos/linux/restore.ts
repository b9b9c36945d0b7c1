import { UsmpError } from '../../errors.js';
import type { ProcessRunner } from '../../exec/process-runner.js';
import { NFT_FAMILIES, NFT_TABLE, resetLines, type NftFamily } from './nft-ruleset.js';
import type { LinuxSnapshot } from './rollback-journal.js';
import { HANDLE } from './tc-tree.js';

// Reading and restoring what the Linux backend owns. Shared by the CLI and by the roll-back
// guard, which runs it alone after the CLI is gone.

const TIMEOUT_MS = 15_000;

export async function runChecked(runner: ProcessRunner, argv: string[], input?: string): Promise<string> {
  const outcome = await runner.run({ argv, timeoutMs: TIMEOUT_MS, ...(input === undefined ? {} : { input }) });
  if (outcome.code !== 0) {
    const text = (outcome.stderr || outcome.stdout).trim().split('\n').slice(0, 6).join(' | ');
    if (/Operation not permitted/i.test(text)) {
      throw new UsmpError('USMP_E_QOS_PRIVILEGE', `${argv[0]} was refused: ${text}`, { details: { argv } });
    }
    throw new UsmpError('USMP_E_QOS_APPLY_FAILED', `${argv.join(' ')} failed${outcome.timedOut ? ' (timed out)' : ''}: ${text}`, { details: { argv } });
  }
  return outcome.stdout;
}

/** Our nftables table as re-appliable text (it names its family), or null when it exists in neither. */
export async function readOurTable(runner: ProcessRunner): Promise<string | null> {
  for (const family of NFT_FAMILIES) {
    const text = await readOurTableIn(runner, family);
    if (text !== null) return text;
  }
  return null;
}

export async function readOurTableIn(runner: ProcessRunner, family: NftFamily): Promise<string | null> {
  const outcome = await runner.run({ argv: ['nft', 'list', 'table', family, NFT_TABLE], timeoutMs: TIMEOUT_MS });
  if (outcome.code === 0) return outcome.stdout;
  if (/No such file or directory/.test(outcome.stderr)) return null;
  return runChecked(runner, ['nft', 'list', 'table', family, NFT_TABLE]);
}

export async function rootQdisc(runner: ProcessRunner, dev: string): Promise<{ kind: string; handle: string } | undefined> {
  const json = await runChecked(runner, ['tc', '-j', 'qdisc', 'show', 'dev', dev]);
  const root = (JSON.parse(json || '[]') as Array<{ kind: string; handle: string; root?: boolean }>).find((q) => q.root);
  return root ? { kind: root.kind, handle: root.handle } : undefined;
}

export async function removeOurTree(runner: ProcessRunner, dev: string): Promise<void> {
  if ((await rootQdisc(runner, dev))?.handle === `${HANDLE}:`) await runChecked(runner, ['tc', 'qdisc', 'del', 'dev', dev, 'root']);
}

export async function writeTree(runner: ProcessRunner, dev: string, batch: string[]): Promise<void> {
  await removeOurTree(runner, dev);
  await runChecked(runner, ['tc', '-batch', '-'], `${batch.join('\n')}\n`);
}

export interface Offloads {
  gro: string;
  gso: string;
  tso: string;
}

const FEATURE_NAMES: Record<keyof Offloads, string> = { gro: 'generic-receive-offload', gso: 'generic-segmentation-offload', tso: 'tcp-segmentation-offload' };

/** `ethtool -k`: on/off of the three offloads that make packets bigger than the wire's. */
export async function readOffloads(runner: ProcessRunner, dev: string): Promise<Offloads> {
  const text = await runChecked(runner, ['ethtool', '-k', dev]);
  const value = (name: string): string => new RegExp(`^${name}: (on|off)`, 'm').exec(text)?.[1] ?? 'off';
  return { gro: value(FEATURE_NAMES.gro), gso: value(FEATURE_NAMES.gso), tso: value(FEATURE_NAMES.tso) };
}

export async function setOffloads(runner: ProcessRunner, dev: string, offloads: Offloads): Promise<void> {
  await runChecked(runner, ['ethtool', '-K', dev, 'gro', offloads.gro, 'gso', offloads.gso, 'tso', offloads.tso]);
}

/** Puts back exactly what the snapshot recorded; our objects it did not record are removed. */
export async function restoreSnapshot(runner: ProcessRunner, snapshot: LinuxSnapshot): Promise<void> {
  const reset = `${resetLines().join('\n')}\n`;
  await runChecked(runner, ['nft', '-f', '-'], snapshot.nft === null ? reset : reset + snapshot.nft);
  for (const [dev, batch] of Object.entries(snapshot.tc)) {
    if (batch) await writeTree(runner, dev, batch);
    else await removeOurTree(runner, dev);
  }
  for (const [dev, offloads] of Object.entries(snapshot.offloads ?? {})) await setOffloads(runner, dev, offloads);
}
