import type { QosObject } from '../objects.js';
import { ptmRateFactor, stabArgs, stabReadBack } from '../link-layer.js';
import { bestEffortMbps, shapedMbps, type QosPolicy } from '../policy.js';

// The htb tree we own on one egress device: a root class at the shaped rate, one leaf per
// class (its committed rate, its ceiling, its priority) selected by DSCP, and best effort as
// the default class. Leaves get short FIFOs: htb's priority keeps the realtime queue empty,
// and a short best-effort queue keeps the delay it adds to TCP bounded. [tc-htb(8)]

export const HANDLE = '7e1e';
export const BEST_EFFORT_MINOR = '99';
/** Kernel-created root qdiscs we may replace (and restore by deleting ours). */
export const DEFAULT_ROOT_KINDS = new Set(['noqueue', 'pfifo_fast', 'mq', 'fq_codel', 'fq', 'sfq']);
const MTU_FRAME = 1514;
/**
 * Best-effort queue, in seconds at the shaped rate. Upload: ours is the only queue, 50 ms keeps
 * bulk TCP busy without bloat. Download is shaped after the operator's buffer; a queue too
 * short here makes bulk senders lose packets, recover in bursts and fill that buffer, which
 * the video packets cross too. 150 ms here keeps them paced by our rate: measured in the lab
 * (20/20 Mbit/s, 4 TCP streams each way), the video class's median RTT increase went from
 * 3.8–18 ms with 50 ms to 3.0–3.6 ms. Best effort pays with more queueing delay.
 */
const BEST_EFFORT_QUEUE_S = { up: 0.05, down: 0.15 } as const;

interface Leaf {
  minor: string;
  name: string;
  dscp?: number;
  rateBits: number;
  ceilBits: number;
  prio: number;
  limitPackets: number;
}

function leaves(policy: QosPolicy, direction: 'up' | 'down'): { shapedBits: number; leaves: Leaf[] } {
  // PTM's 64b/65b is a fixed share of the line, which a size table cannot express.
  const line = ptmRateFactor(policy.linkLayer);
  const shapedBits = toBits(shapedMbps(policy, direction) * line);
  const out: Leaf[] = policy.classes.map((c, i) => ({
    minor: String(10 + i),
    name: c.name,
    dscp: c.dscp,
    rateBits: toBits(c.rateMbps * line),
    ceilBits: toBits(c.ceilMbps * line),
    prio: c.priority - 1, // htb prio 0 is served first
    limitPackets: 100,
  }));
  const beLimit = Math.max(20, Math.ceil((shapedBits * BEST_EFFORT_QUEUE_S[direction]) / (MTU_FRAME * 8)));
  out.push({
    minor: BEST_EFFORT_MINOR,
    name: 'best-effort',
    rateBits: toBits(bestEffortMbps(policy, direction) * line),
    ceilBits: shapedBits,
    prio: 7,
    limitPackets: beLimit,
  });
  return { shapedBits, leaves: out };
}

/** `tc -batch` lines that build the tree on an empty device. */
export function treeBatch(policy: QosPolicy, direction: 'up' | 'down', dev: string): string[] {
  const { shapedBits, leaves: ls } = leaves(policy, direction);
  const lines = [
    // The size table makes htb charge each packet what it costs on the bottleneck link.
    ['qdisc', 'replace', 'dev', dev, 'root', 'handle', `${HANDLE}:`, ...stabArgs(policy.linkLayer), 'htb', 'default', BEST_EFFORT_MINOR].join(' '),
    `class add dev ${dev} parent ${HANDLE}: classid ${HANDLE}:1 htb rate ${kbit(shapedBits)} ceil ${kbit(shapedBits)} quantum ${MTU_FRAME}`,
  ];
  for (const l of ls) {
    lines.push(
      `class add dev ${dev} parent ${HANDLE}:1 classid ${HANDLE}:${l.minor} htb rate ${kbit(l.rateBits)} ceil ${kbit(l.ceilBits)} prio ${l.prio} quantum ${MTU_FRAME}`,
    );
    lines.push(`qdisc add dev ${dev} parent ${HANDLE}:${l.minor} handle ${l.minor}: pfifo limit ${l.limitPackets}`);
  }
  ls.forEach((l, i) => {
    if (l.dscp === undefined) return;
    const tos = `0x${(l.dscp << 2).toString(16)}`;
    // [RFC 2474 §3] DSCP is the upper six bits of the IPv4 TOS / IPv6 traffic class octet.
    lines.push(`filter add dev ${dev} parent ${HANDLE}: protocol ip prio ${i + 1} u32 match ip dsfield ${tos} 0xfc flowid ${HANDLE}:${l.minor}`);
    // One filter priority holds one protocol only, so IPv6 filters get their own range.
    lines.push(`filter add dev ${dev} parent ${HANDLE}: protocol ipv6 prio ${100 + i + 1} u32 match ip6 priority ${tos} 0xfc flowid ${HANDLE}:${l.minor}`);
  });
  return lines;
}

/** `tc -batch` lines that change only the root's rate and best effort's (autorate), in place. */
export function rateChangeBatch(policy: QosPolicy, direction: 'up' | 'down', dev: string): string[] {
  const changed = [`classid ${HANDLE}:1 `, `classid ${HANDLE}:${BEST_EFFORT_MINOR} `];
  return treeBatch(policy, direction, dev)
    .filter((line) => line.startsWith('class add ') && changed.some((c) => line.includes(c)))
    .map((line) => line.replace(/^class add /, 'class change '));
}

/** Octets our root class has sent, from `tc -s class show`. */
export function rootSentOctets(classText: string): number {
  const m = new RegExp(String.raw`^class htb ${HANDLE}:1 root[^\n]*\n\s*Sent (\d+) bytes`, 'm').exec(classText);
  return m ? Number(m[1]) : 0;
}

export function desiredTcObjects(policy: QosPolicy, direction: 'up' | 'down', dev: string): QosObject[] {
  const { shapedBits, leaves: ls } = leaves(policy, direction);
  const p = `tc:${dev}`;
  const objects: QosObject[] = [
    { key: `${p}:qdisc:root`, props: { kind: 'htb', handle: `${HANDLE}:`, default: `0x${BEST_EFFORT_MINOR}`, stab: stabReadBack(policy.linkLayer) } },
    { key: `${p}:class:${HANDLE}:1`, props: { parent: 'root', rate: String(shapedBits), ceil: String(shapedBits) } },
  ];
  for (const l of ls) {
    objects.push({
      key: `${p}:class:${HANDLE}:${l.minor}`,
      props: { parent: `${HANDLE}:1`, rate: String(l.rateBits), ceil: String(l.ceilBits), prio: String(l.prio) },
    });
    objects.push({ key: `${p}:qdisc:${l.minor}:`, props: { kind: 'pfifo', parent: `${HANDLE}:${l.minor}`, limit: String(l.limitPackets) } });
    if (l.dscp !== undefined) {
      const tos = l.dscp << 2;
      objects.push({ key: `${p}:filter:ip:${HANDLE}:${l.minor}`, props: { match: `${hex(tos << 16)}/${hex(0xfc << 16)}@0` } });
      objects.push({ key: `${p}:filter:ipv6:${HANDLE}:${l.minor}`, props: { match: `${hex(tos << 20)}/${hex(0xfc << 20)}@0` } });
    }
  }
  return objects;
}

interface QdiscJson {
  kind: string;
  handle: string;
  root?: boolean;
  parent?: string;
  options?: { default?: string; limit?: number };
  /** Printed with `tc -d`. */
  stab?: { linklayer: string; overhead?: number; mpu?: number };
}

interface FilterJson {
  protocol: string;
  options?: { flowid?: string; match?: { value: string; mask: string; off: number } };
}

export interface TcReadBack {
  /** The root qdisc's kind and handle, ours or not. */
  root: { kind: string; handle: string } | undefined;
  objects: QosObject[];
  /** Packets sent by each of our classes, by classid. */
  packets: Record<string, number>;
}

/** Parses `tc -d -j qdisc show`, `tc -s class show` (htb has no JSON class output) and `tc -j filter show`. */
export function parseTcState(dev: string, qdiscJson: string, classText: string, filterJson: string): TcReadBack {
  const qdiscs = JSON.parse(qdiscJson || '[]') as QdiscJson[];
  const rootQdisc = qdiscs.find((q) => q.root);
  const root = rootQdisc ? { kind: rootQdisc.kind, handle: rootQdisc.handle } : undefined;
  const objects: QosObject[] = [];
  const packets: Record<string, number> = {};
  if (!rootQdisc || rootQdisc.handle !== `${HANDLE}:`) return { root, objects, packets };
  const p = `tc:${dev}`;
  const stab = rootQdisc.stab ? `${rootQdisc.stab.linklayer}/${rootQdisc.stab.overhead ?? 0}/${rootQdisc.stab.mpu ?? 0}` : '';
  objects.push({ key: `${p}:qdisc:root`, props: { kind: rootQdisc.kind, handle: rootQdisc.handle, default: rootQdisc.options?.default ?? '', stab } });
  for (const q of qdiscs) {
    if (q.root || !q.parent?.startsWith(`${HANDLE}:`)) continue;
    objects.push({ key: `${p}:qdisc:${q.handle}`, props: { kind: q.kind, parent: q.parent, limit: String(q.options?.limit ?? '') } });
  }
  const classRe = /^class htb (\S+) (?:parent (\S+)|root)(?: leaf \S+)?(?: prio (\d+))? rate (\S+) ceil (\S+)[^\n]*\n\s*Sent \d+ bytes (\d+) pkt/gm;
  for (const m of classText.matchAll(classRe)) {
    const [, id, parent, prio, rate, ceil, pkts] = m;
    const props: Record<string, string> = { parent: parent ?? 'root', rate: String(parseRate(rate!)), ceil: String(parseRate(ceil!)) };
    if (prio !== undefined) props.prio = prio;
    objects.push({ key: `${p}:class:${id}`, props });
    packets[id!] = Number(pkts);
  }
  for (const f of JSON.parse(filterJson || '[]') as FilterJson[]) {
    const o = f.options;
    if (!o?.flowid || !o.match) continue;
    objects.push({ key: `${p}:filter:${f.protocol}:${o.flowid}`, props: { match: `${pad(o.match.value)}/${pad(o.match.mask)}@${o.match.off}` } });
  }
  return { root, objects, packets };
}

/** tc prints rates as 19Mbit, 2500Kbit, 512bit (SI units). [tc(8) "RATES"] */
export function parseRate(text: string): number {
  const m = /^([\d.]+)(bit|Kbit|Mbit|Gbit|Tbit)$/i.exec(text);
  if (!m) return Number.NaN;
  const factor: Record<string, number> = { bit: 1, kbit: 1e3, mbit: 1e6, gbit: 1e9, tbit: 1e12 };
  return Math.round(Number(m[1]) * factor[m[2]!.toLowerCase()]!);
}

function toBits(mbps: number): number {
  return Math.round(mbps * 1000) * 1000; // kbit granularity, as written to tc
}

function kbit(bits: number): string {
  return `${bits / 1000}kbit`;
}

function hex(n: number): string {
  return (n >>> 0).toString(16).padStart(8, '0');
}

function pad(text: string): string {
  return text.padStart(8, '0');
}
