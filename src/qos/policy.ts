import { DSCP_BY_NAME, dscpValue } from '../measure/dscp-names.js';
import type { ConfigProblem } from '../config/problems.js';
import { cidrsOverlap, parseCidr, parsePortRange, portRangesOverlap, type Cidr, type PortRange } from './addresses.js';
import { LINK_LAYER_PRESET_NAMES, LINK_LAYER_PRESETS, MPU_RANGE, NO_LINK_LAYER, OVERHEAD_RANGE, type LinkLayer, type LinkLayerType } from './link-layer.js';

// The QoS policy: what the telemedicine flow is, how much of the link each class is promised,
// and which packets belong to it. One validation for both backends, so a policy refused on
// Linux is refused on RouterOS with the same words.

/** DSCP names we accept, with their code points. [RFC 4594 §4; RFC 2597; RFC 3246 EF] */

export type Protocol = 'tcp' | 'udp' | 'any';

export interface ClassMatch {
  /** Addresses on the USMP side (telemedicine stations, the cart); empty: any. */
  local: Cidr[];
  /** Addresses on the hospital side (its prefixes, the video platform); empty: any. */
  remote: Cidr[];
  protocol: Protocol;
  /** Ports on the hospital side; empty: any. */
  remotePorts: PortRange[];
}

export interface TrafficClass {
  name: string;
  dscp: number;
  /** 1 is served first; best effort is always last. [tc-htb(8) prio] */
  priority: number;
  rateMbps: number;
  ceilMbps: number;
  match: ClassMatch;
}

export interface QosPolicy {
  upMbps: number;
  downMbps: number;
  /** We shape this far below the link so the queue forms here, not in the modem. */
  shapePercent: number;
  classes: TrafficClass[];
  /** What a packet costs on the bottleneck link beyond its IP octets (link-layer.ts). */
  linkLayer: LinkLayer;
  /** Shaped rates set by autorate (qos/autorate/), in force of the configured share. */
  autorateMbps?: Partial<Record<'up' | 'down', number>>;
}

export const BEST_EFFORT = 'best-effort';
export const MAX_CLASSES = 8;
const NAME = /^[a-z][a-z0-9-]{0,23}$/;

export interface PolicyInput {
  up_mbps: number;
  down_mbps: number;
  shape_percent: number;
  classes: readonly unknown[];
  link_layer?: LinkLayerInput;
}

export interface LinkLayerInput {
  preset: string;
  type?: string;
  overhead?: number;
  mpu?: number;
}

/** The rate the root of a direction is shaped at: autorate's when it runs, else the configured share. */
export function shapedMbps(policy: QosPolicy, direction: 'up' | 'down'): number {
  return policy.autorateMbps?.[direction] ?? configuredShapedMbps(policy, direction);
}

export function configuredShapedMbps(policy: QosPolicy, direction: 'up' | 'down'): number {
  return ((direction === 'up' ? policy.upMbps : policy.downMbps) * policy.shapePercent) / 100;
}

/** What best effort is promised: whatever the classes leave of the shaped rate. */
export function bestEffortMbps(policy: QosPolicy, direction: 'up' | 'down'): number {
  const committed = policy.classes.reduce((sum, c) => sum + c.rateMbps, 0);
  return round3(shapedMbps(policy, direction) - committed);
}

/** Builds the policy from configuration values, or lists every problem with its key path. */
export function parsePolicy(input: PolicyInput, prefix = 'qos'): { policy?: QosPolicy; problems: ConfigProblem[] } {
  const problems: ConfigProblem[] = [];
  const problem = (path: string, message: string): void => void problems.push({ path: `${prefix}.${path}`, message });
  if (!(input.up_mbps > 0)) problem('up_mbps', 'must be the link rate towards the hospital in Mbit/s (greater than 0)');
  if (!(input.down_mbps > 0)) problem('down_mbps', 'must be the link rate from the hospital in Mbit/s (greater than 0)');
  if (!(input.shape_percent >= 50 && input.shape_percent <= 100)) problem('shape_percent', 'must be between 50 and 100 (95 is usual)');
  if (!Array.isArray(input.classes) || input.classes.length === 0) {
    problem('classes', 'must list at least one class (e.g. telemedicine video AF41); see config/qos-policy.example.json');
    return { problems };
  }
  if (input.classes.length > MAX_CLASSES) problem('classes', `has ${input.classes.length} classes; at most ${MAX_CLASSES}`);
  const classes: TrafficClass[] = [];
  input.classes.forEach((raw, i) => {
    const parsed = parseClass(raw, (field, message) => problem(`classes[${i}]${field ? `.${field}` : ''}`, message));
    if (parsed) classes.push(parsed);
  });
  const linkLayer = parseLinkLayer(input.link_layer, (field, message) => problem(`link_layer.${field}`, message));
  if (problems.length > 0 || !linkLayer) return { problems };
  const policy: QosPolicy = { upMbps: input.up_mbps, downMbps: input.down_mbps, shapePercent: input.shape_percent, classes, linkLayer };
  checkWholePolicy(policy, problem);
  return problems.length > 0 ? { problems } : { policy, problems };
}

function checkWholePolicy(policy: QosPolicy, problem: (path: string, message: string) => void): void {
  const seenNames = new Map<string, number>();
  const seenDscp = new Map<number, string>();
  policy.classes.forEach((c, i) => {
    if (seenNames.has(c.name) || c.name === BEST_EFFORT)
      problem(`classes[${i}].name`, `"${c.name}" is already used${c.name === BEST_EFFORT ? ' (best effort is implicit)' : ''}`);
    seenNames.set(c.name, i);
    // The tc classifiers select by DSCP, so two classes cannot share one. [RFC 2474 §3]
    const other = seenDscp.get(c.dscp);
    if (other !== undefined) problem(`classes[${i}].dscp`, `DSCP ${c.dscp} is already the mark of class ${other}; each class needs its own`);
    seenDscp.set(c.dscp, c.name);
  });
  for (const direction of ['up', 'down'] as const) {
    const shaped = configuredShapedMbps(policy, direction);
    const committed = policy.classes.reduce((sum, c) => sum + c.rateMbps, 0);
    if (committed > shaped * 0.99) {
      problem(
        'classes',
        `committed rates add up to ${round3(committed)} Mbit/s but the ${direction} link is shaped at ${round3(shaped)} Mbit/s (${policy.shapePercent} % of ${direction === 'up' ? policy.upMbps : policy.downMbps}); lower the rates and leave at least 1 % to best effort`,
      );
    }
    policy.classes.forEach((c, i) => {
      if (c.ceilMbps > shaped) problem(`classes[${i}].ceil_mbps`, `${c.ceilMbps} Mbit/s is above the shaped ${direction} rate ${round3(shaped)} Mbit/s`);
    });
  }
  for (let a = 0; a < policy.classes.length; a++) {
    for (let b = a + 1; b < policy.classes.length; b++) {
      const overlap = matchersOverlap(policy.classes[a]!.match, policy.classes[b]!.match);
      if (overlap)
        problem(`classes[${b}].match`, `overlaps class ${policy.classes[a]!.name}: both would take ${overlap}; make the addresses, protocol or ports disjoint`);
    }
  }
}

type FieldProblem = (field: string, message: string) => void;

/** A preset names every figure; `custom` takes type, overhead and mpu as given. */
function parseLinkLayer(raw: LinkLayerInput | undefined, problem: FieldProblem): LinkLayer | undefined {
  if (raw === undefined) return NO_LINK_LAYER;
  const preset = LINK_LAYER_PRESETS[raw.preset];
  if (raw.preset !== 'custom' && !preset) {
    problem('preset', `"${raw.preset}" is not a link layer (one of ${LINK_LAYER_PRESET_NAMES.join(', ')})`);
    return undefined;
  }
  if (preset) {
    const set = (['type', 'overhead', 'mpu'] as const).filter((k) => raw[k] !== undefined && raw[k] !== '' && raw[k] !== 0);
    for (const k of set) problem(k, `is given by the preset ${raw.preset}; choose preset custom to set it`);
    return set.length > 0 ? undefined : { preset: raw.preset, ...preset };
  }
  const type = raw.type as LinkLayerType;
  const overhead = raw.overhead ?? 0;
  const mpu = raw.mpu ?? 0;
  const found: Array<[string, string]> = [];
  if (!['ethernet', 'ptm', 'atm'].includes(type)) found.push(['type', 'must be ethernet, ptm or atm with preset custom']);
  if (!Number.isInteger(overhead) || overhead < OVERHEAD_RANGE.min || overhead > OVERHEAD_RANGE.max) {
    found.push([
      'overhead',
      `must be a whole number of octets from ${OVERHEAD_RANGE.min} to ${OVERHEAD_RANGE.max} (what each packet carries on the link beyond its IP octets: 40 for ADSL PPPoE LLC)`,
    ]);
  }
  if (!Number.isInteger(mpu) || mpu < MPU_RANGE.min || mpu > MPU_RANGE.max)
    found.push(['mpu', `must be a whole number of octets from ${MPU_RANGE.min} to ${MPU_RANGE.max}`]);
  for (const [field, message] of found) problem(field, message);
  return found.length === 0 ? { preset: 'custom', type, overhead, mpu } : undefined;
}

function parseClass(raw: unknown, problem: FieldProblem): TrafficClass | undefined {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    problem('', 'must be an object {name, dscp, priority, rate_mbps, ceil_mbps, match}');
    return undefined;
  }
  const r = raw as Record<string, unknown>;
  const known = new Set(['name', 'dscp', 'priority', 'rate_mbps', 'ceil_mbps', 'match']);
  for (const key of Object.keys(r)) if (!known.has(key)) problem(key, `is not a class field (fields: ${[...known].join(', ')})`);
  const name = typeof r.name === 'string' && NAME.test(r.name) ? r.name : undefined;
  if (!name) problem('name', 'must be lower-case letters, digits and dashes, starting with a letter, at most 24 characters');
  const dscp = parseDscp(r.dscp);
  if (dscp === undefined)
    problem(
      'dscp',
      `must be a DSCP name (${Object.keys(DSCP_BY_NAME)
        .filter((n) => n !== 'CS0')
        .join(', ')}) or a number 1..63`,
    );
  const priority = Number.isInteger(r.priority) && (r.priority as number) >= 1 && (r.priority as number) <= 7 ? (r.priority as number) : undefined;
  if (priority === undefined) problem('priority', 'must be an integer from 1 (served first) to 7');
  const rate = positive(r.rate_mbps);
  if (rate === undefined) problem('rate_mbps', 'must be the committed rate in Mbit/s, greater than 0');
  const ceil = r.ceil_mbps === undefined ? rate : positive(r.ceil_mbps);
  if (ceil === undefined) problem('ceil_mbps', 'must be the ceiling in Mbit/s, greater than 0');
  else if (rate !== undefined && ceil < rate) problem('ceil_mbps', `${ceil} is below rate_mbps ${rate}; the ceiling is at least the committed rate`);
  const match = parseMatch(r.match, (field, message) => problem(`match${field ? `.${field}` : ''}`, message));
  if (!name || dscp === undefined || priority === undefined || rate === undefined || ceil === undefined || !match || ceil < rate) return undefined;
  return { name, dscp, priority, rateMbps: rate, ceilMbps: ceil, match };
}

function parseMatch(raw: unknown, problem: FieldProblem): ClassMatch | undefined {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    problem('', 'must be an object {local, remote, protocol, remote_ports}');
    return undefined;
  }
  const r = raw as Record<string, unknown>;
  const known = new Set(['local', 'remote', 'protocol', 'remote_ports']);
  for (const key of Object.keys(r)) if (!known.has(key)) problem(key, `is not a matcher field (fields: ${[...known].join(', ')})`);
  const local = parseList(r.local, 'local', parseCidr, 'an address or prefix such as 198.18.1.10/32', problem);
  const remote = parseList(r.remote, 'remote', parseCidr, 'an address or prefix such as 203.0.113.0/24', problem);
  const remotePorts = parseList(r.remote_ports, 'remote_ports', parsePortRange, 'a port (443) or a range ("5004-5005")', problem);
  const protocol = (r.protocol ?? 'any') as Protocol;
  if (!['tcp', 'udp', 'any'].includes(protocol)) problem('protocol', 'must be tcp, udp or any');
  if (!local || !remote || !remotePorts || !['tcp', 'udp', 'any'].includes(protocol)) return undefined;
  if (local.length === 0 && remote.length === 0 && remotePorts.length === 0) {
    problem('', 'matches every packet; give local addresses, remote addresses or ports (unmatched traffic is best effort already)');
    return undefined;
  }
  const families = new Set([...local, ...remote].map((c) => c.family));
  if (families.size > 1) {
    problem('', 'mixes IPv4 and IPv6 addresses; make one class per family');
    return undefined;
  }
  return { local, remote, protocol, remotePorts };
}

function parseList<T>(raw: unknown, field: string, parse: (s: string) => T | undefined, example: string, problem: FieldProblem): T[] | undefined {
  if (raw === undefined) return [];
  if (!Array.isArray(raw)) {
    problem(field, `must be a list, each item ${example}`);
    return undefined;
  }
  const out: T[] = [];
  raw.forEach((item, i) => {
    const parsed = parse(String(item));
    if (parsed === undefined) problem(`${field}[${i}]`, `"${String(item)}" is not ${example}`);
    else out.push(parsed);
  });
  return out.length === raw.length ? out : undefined;
}

/** A human description of what both matchers take, or undefined when they are disjoint. */
export function matchersOverlap(a: ClassMatch, b: ClassMatch): string | undefined {
  const anyCommon = <T>(x: T[], y: T[], same: (p: T, q: T) => boolean): boolean => x.length === 0 || y.length === 0 || x.some((p) => y.some((q) => same(p, q)));
  if (!anyCommon(a.local, b.local, cidrsOverlap)) return undefined;
  if (!anyCommon(a.remote, b.remote, cidrsOverlap)) return undefined;
  if (a.protocol !== 'any' && b.protocol !== 'any' && a.protocol !== b.protocol) return undefined;
  if (!anyCommon(a.remotePorts, b.remotePorts, portRangesOverlap)) return undefined;
  const protocol = a.protocol === 'any' ? b.protocol : a.protocol;
  return `${protocol} traffic ${commonPart(a.local, b.local)} ↔ ${commonPart(a.remote, b.remote)}${a.remotePorts.length + b.remotePorts.length > 0 ? ' on common ports' : ''}`;
}

/** The addresses both lists take: the narrower prefix of each overlapping pair. */
function commonPart(x: Cidr[], y: Cidr[]): string {
  if (x.length === 0 || y.length === 0) return (x.length === 0 ? y : x).map((c) => c.text).join(', ') || 'any address';
  const common = x.flatMap((p) => y.filter((q) => cidrsOverlap(p, q)).map((q) => (q.bits > p.bits ? q : p)));
  return [...new Set(common.map((c) => c.text))].join(', ');
}

function parseDscp(raw: unknown): number | undefined {
  // CS0 is best effort, the traffic every class is protected from: not a class's mark
  if (typeof raw === 'string') return raw.toUpperCase() === 'CS0' ? undefined : dscpValue(raw);
  if (Number.isInteger(raw) && (raw as number) >= 1 && (raw as number) <= 63) return raw as number;
  return undefined;
}

function positive(raw: unknown): number | undefined {
  return typeof raw === 'number' && Number.isFinite(raw) && raw > 0 ? raw : undefined;
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
