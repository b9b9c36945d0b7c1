import type { LinkDirection, LinkImpairment } from './link-model.js';

// Loss and DSCP treatment of both directions, as one nftables table applied atomically.
// Rules match the interface a packet finally leaves by, so traffic that first detours through
// the delay emulator's TUN device is counted once. [nft(8) numgen, ip dscp]

export const LAB_TABLE = 'usmp_lab';
const LOSS_SCALE = 1_000_000;

export function impairmentRuleset(links: Record<LinkDirection, { dev: string; link: LinkImpairment }>): string {
  const rules: string[] = [];
  for (const direction of ['up', 'down'] as const) {
    const { dev, link } = links[direction];
    const loss = link.lossPct ?? 0;
    if (loss > 0) {
      const threshold = Math.round((loss / 100) * LOSS_SCALE);
      // 100 %: the link is cut (numgen's threshold would be out of its range)
      const draw = threshold >= LOSS_SCALE ? '' : `numgen random mod ${LOSS_SCALE} < ${threshold} `;
      rules.push(`oifname "${dev}" ${draw}counter drop comment "loss-${direction}"`);
    }
    const dscp = link.dscp ?? { kind: 'keep' };
    if (dscp.kind === 'bleach') rules.push(`oifname "${dev}" counter ip dscp set 0 comment "bleach-${direction}"`);
    if (dscp.kind === 'remap') {
      for (const [from, to] of Object.entries(dscp.map)) {
        rules.push(`oifname "${dev}" ip dscp ${Number(from)} counter ip dscp set ${Number(to)} comment "remap-${direction}"`);
      }
    }
  }
  // "add + delete + define" replaces the table in one transaction, whether it existed or not.
  return [
    `add table ip ${LAB_TABLE}`,
    `delete table ip ${LAB_TABLE}`,
    `table ip ${LAB_TABLE} {`,
    '  chain forward {',
    '    type filter hook forward priority 0; policy accept;',
    ...rules.map((r) => `    ${r}`),
    '  }',
    '}',
    '',
  ].join('\n');
}
