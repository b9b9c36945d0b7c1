import { createHash } from 'node:crypto';
import { portRangeText, type Cidr } from '../addresses.js';
import type { QosObject } from '../objects.js';
import { BEST_EFFORT, type QosPolicy, type TrafficClass } from '../policy.js';

// Our own nftables table: it classifies the telemedicine flow by its matchers and writes the
// class's DSCP, which the tc filters then read. Applied in one `nft -f` transaction, so the
// table is never half-written. [nft(8) "atomic rule replacement"] Nothing outside it is touched.

/**
 * inet sees what the appliance routes (inline-router) and sends; bridge sees what crosses its
 * bridge (inline-bridge) and what it sends through it [nft(8) "ADDRESS FAMILIES"]. The table
 * lives in one of the two; writing it removes it from the other.
 */
export type NftFamily = 'inet' | 'bridge';
export const NFT_FAMILIES: readonly NftFamily[] = ['inet', 'bridge'];
export const NFT_TABLE = 'usmp_qos';
export const RULE_PREFIX = 'usmp-qos:';

export interface Interfaces {
  wan: string;
  lan: string;
}

interface RuleSpec {
  key: string;
  body: string;
  /** A class rule, which also applies to the appliance's own packets (it needs no input port). */
  classRule: boolean;
}

/** One rule per class and direction, then the trust boundary: forwarded, unmatched → CS0. */
function ruleSpecs(policy: QosPolicy, ifs: Interfaces, family: NftFamily): RuleSpec[] {
  const specs: RuleSpec[] = [];
  for (const direction of ['up', 'down'] as const) {
    const out = direction === 'up' ? ifs.wan : ifs.lan;
    for (const c of policy.classes) {
      for (const body of classRuleBodies(c, direction, family)) {
        specs.push({
          key: `${direction}:${c.name}${body.family === 6 ? ':ip6' : ''}`,
          body: `oifname ${quote(out)} ${body.text} counter accept`,
          classRule: true,
        });
      }
    }
    // [RFC 4594 §3.1] marks from the LAN are not trusted: whatever no class took is best effort.
    const from = direction === 'up' ? ifs.lan : ifs.wan;
    const [v4, v6] = family === 'bridge' ? ['ether type ip ', 'ether type ip6 '] : ['', ''];
    specs.push({ key: `${direction}:${BEST_EFFORT}`, body: `iifname ${quote(from)} oifname ${quote(out)} ${v4}ip dscp set cs0 counter`, classRule: false });
    specs.push({
      key: `${direction}:${BEST_EFFORT}:ip6`,
      body: `iifname ${quote(from)} oifname ${quote(out)} ${v6}ip6 dscp set cs0 counter`,
      classRule: false,
    });
  }
  if (family !== 'bridge') return specs;
  // The appliance's own packets never cross the bridge's forward hook: its output hook marks
  // them (the trust boundary is for the unit's packets only).
  return [...specs, ...specs.filter((r) => r.classRule).map((r) => ({ ...r, key: `${r.key}:${LOCAL_SUFFIX}` }))];
}

const LOCAL_SUFFIX = 'local';

/**
 * Where the rules hook: inet postrouting sees both ports of what it routes (iif and oif) and the
 * appliance's own packets. The bridge family's postrouting has no input port (the kernel passes
 * none there), so bridged frames are marked at its forward hook and the appliance's own at its
 * output hook [nft(8) "ADDRESS FAMILIES", bridge]; its priorities have their own names, and no
 * "mangle".
 */
function chainsOf(family: NftFamily): Array<{ name: string; hook: string; priority: string; local: boolean }> {
  if (family === 'bridge')
    return [
      { name: 'classify', hook: 'forward', priority: 'filter', local: false },
      { name: 'classify_local', hook: 'output', priority: 'filter', local: true },
    ];
  // After conntrack and NAT's prerouting, before the egress qdisc that reads the mark.
  return [{ name: 'classify', hook: 'postrouting', priority: 'mangle', local: false }];
}

function classRuleBodies(c: TrafficClass, direction: 'up' | 'down', nftFamily: NftFamily): Array<{ family: 4 | 6; text: string }> {
  const m = c.match;
  const family = m.local[0]?.family ?? m.remote[0]?.family;
  const families: Array<4 | 6> = family ? [family] : [4, 6];
  return families.map((f) => {
    const ip = f === 4 ? 'ip' : 'ip6';
    const [srcSet, dstSet] = direction === 'up' ? [m.local, m.remote] : [m.remote, m.local];
    const parts: string[] = [];
    if (srcSet.length > 0) parts.push(`${ip} saddr ${set(srcSet.map(cidrText))}`);
    if (dstSet.length > 0) parts.push(`${ip} daddr ${set(dstSet.map(cidrText))}`);
    if (m.remotePorts.length > 0) {
      const portField = direction === 'up' ? 'dport' : 'sport';
      const proto = m.protocol === 'any' ? '{ tcp, udp }' : m.protocol;
      parts.push(`meta l4proto ${proto} th ${portField} ${set(m.remotePorts.map(portRangeText))}`);
    } else if (m.protocol !== 'any') parts.push(`meta l4proto ${m.protocol}`);
    // The bridge family sees Ethernet frames: the IP version is the frame's ether type there.
    if (nftFamily === 'bridge') parts.unshift(f === 4 ? 'ether type ip' : 'ether type ip6');
    else if (!srcSet.length && !dstSet.length) parts.unshift(f === 4 ? 'meta nfproto ipv4' : 'meta nfproto ipv6');
    parts.push(`${ip} dscp set ${c.dscp}`);
    return { family: f, text: parts.join(' ') };
  });
}

function ruleHash(body: string): string {
  return createHash('sha256').update(body).digest('hex').slice(0, 10);
}

/** `nft -f` lines that remove our table from both families (creating it first, so delete cannot fail). */
export function resetLines(): string[] {
  return NFT_FAMILIES.flatMap((f) => [`table ${f} ${NFT_TABLE} {}`, `delete table ${f} ${NFT_TABLE}`]);
}

/** The table as `nft -f` input: removed wherever it is, and written anew, in one transaction. */
export function renderRuleset(policy: QosPolicy, ifs: Interfaces, family: NftFamily = 'inet'): string {
  const specs = ruleSpecs(policy, ifs, family);
  const lines = [...resetLines(), `table ${family} ${NFT_TABLE} {`];
  for (const chain of chainsOf(family)) {
    const rules = specs.filter((r) => r.key.endsWith(`:${LOCAL_SUFFIX}`) === chain.local);
    lines.push(`  chain ${chain.name} {`, `    type filter hook ${chain.hook} priority ${chain.priority}; policy accept;`);
    lines.push(...rules.map((r) => `    ${r.body} comment ${quote(`${RULE_PREFIX}${r.key}:${ruleHash(r.body)}`)}`), '  }');
  }
  return [...lines, '}', ''].join('\n');
}

export function desiredNftObjects(policy: QosPolicy, ifs: Interfaces, family: NftFamily = 'inet'): QosObject[] {
  return [
    {
      key: `nft:table:${NFT_TABLE}`,
      props: {
        family,
        hook: chainsOf(family)
          .map((c) => c.hook)
          .sort()
          .join(','),
      },
    },
    ...ruleSpecs(policy, ifs, family).map((r) => ({ key: `nft:rule:${r.key}`, props: { rule: ruleHash(r.body) } })),
  ];
}

interface NftJson {
  nftables: Array<{ table?: { family: string; name: string }; chain?: { hook?: string }; rule?: { comment?: string; expr: unknown[] } }>;
}

/** Our table as read from `nft -j list table`, in the same object form; and its counters. */
export function parseNftState(json: string): { objects: QosObject[]; packets: Record<string, number> } {
  const doc = JSON.parse(json) as NftJson;
  const objects: QosObject[] = [];
  const packets: Record<string, number> = {};
  for (const item of doc.nftables) {
    if (item.table) objects.push({ key: `nft:table:${item.table.name}`, props: { family: item.table.family, hook: '' } });
    if (item.chain?.hook && objects[0]) {
      const hooks = objects[0].props.hook ? objects[0].props.hook.split(',') : [];
      objects[0] = { key: objects[0].key, props: { ...objects[0].props, hook: [...hooks, item.chain.hook].sort().join(',') } };
    }
    const comment = item.rule?.comment;
    if (!comment?.startsWith(RULE_PREFIX)) continue;
    const rest = comment.slice(RULE_PREFIX.length);
    const cut = rest.lastIndexOf(':');
    const key = rest.slice(0, cut);
    objects.push({ key: `nft:rule:${key}`, props: { rule: rest.slice(cut + 1) } });
    const counter = item.rule!.expr.find((e): e is { counter: { packets: number } } => typeof e === 'object' && e !== null && 'counter' in e);
    packets[key] = counter?.counter.packets ?? 0;
  }
  return { objects, packets };
}

function cidrText(c: Cidr): string {
  return c.text;
}

function set(items: string[]): string {
  return items.length === 1 ? items[0]! : `{ ${items.join(', ')} }`;
}

function quote(s: string): string {
  return `"${s.replace(/"/g, '')}"`;
}
