import { portRangeText } from '../addresses.js';
import type { QosObject } from '../objects.js';
import { bestEffortMbps, shapedMbps, type QosPolicy, type TrafficClass } from '../policy.js';

// The RouterOS objects of a policy [help.mikrotik.com "Queues", "Mangle", "FastTrack"]: address lists,
// connection and packet marks, DSCP rewrite, the FastTrack exclusion (FastTracked packets
// skip queue trees), and a queue tree per direction on the WAN (upload) and LAN (download)
// interface. Every object carries comment=usmp-qos:v1:<key>, which is how we find ours, and
// named objects start with usmp-qos-. ASCII only (the API is win1252).

export const COMMENT_PREFIX = 'usmp-qos:v1:';
export const NAME_PREFIX = 'usmp-qos-';

export const MENUS = {
  'address-list': '/ip/firewall/address-list',
  mangle: '/ip/firewall/mangle',
  filter: '/ip/firewall/filter',
  queue: '/queue/tree',
} as const;
export type MenuKind = keyof typeof MENUS;

/** Removal order: what depends on others goes first. Creation is the reverse. */
export const REMOVAL_ORDER: MenuKind[] = ['queue', 'filter', 'mangle', 'address-list'];

export interface RouterInterfaces {
  wan: string;
  lan: string;
}

export function menuOf(key: string): MenuKind {
  return key.slice(0, key.indexOf(':')) as MenuKind;
}

export function desiredRouterObjects(policy: QosPolicy, ifs: RouterInterfaces, fasttrackPresent: boolean): QosObject[] {
  const objects: QosObject[] = [];
  for (const c of policy.classes) {
    const mark = `${NAME_PREFIX}${c.name}`;
    for (const side of ['local', 'remote'] as const) {
      for (const cidr of c.match[side]) {
        objects.push({ key: `address-list:${mark}-${side}:${cidr.text}`, props: { list: `${mark}-${side}`, address: cidr.text } });
      }
    }
    for (const protocol of c.match.protocol === 'any' && c.match.remotePorts.length > 0 ? (['tcp', 'udp'] as const) : [c.match.protocol]) {
      const suffix = c.match.protocol === 'any' && c.match.remotePorts.length > 0 ? `:${protocol}` : '';
      objects.push({ key: `mangle:${c.name}:conn-out${suffix}`, props: connectionMark(c, mark, 'out', protocol) });
      objects.push({ key: `mangle:${c.name}:conn-in${suffix}`, props: connectionMark(c, mark, 'in', protocol) });
    }
    objects.push({ key: `mangle:${c.name}:packet`, props: { chain: 'prerouting', action: 'mark-packet', 'connection-mark': mark, 'new-packet-mark': mark, passthrough: 'yes' } });
    objects.push({ key: `mangle:${c.name}:dscp`, props: { chain: 'postrouting', action: 'change-dscp', 'packet-mark': mark, 'new-dscp': String(c.dscp), passthrough: 'yes' } });
    if (fasttrackPresent) {
      objects.push({ key: `filter:${c.name}:no-fasttrack`, props: { chain: 'forward', action: 'accept', 'connection-state': 'established,related', 'connection-mark': mark } });
    }
  }
  for (const [direction, parent] of [['up', ifs.wan], ['down', ifs.lan]] as const) {
    const root = `${NAME_PREFIX}${direction}`;
    const shaped = bits(shapedMbps(policy, direction));
    // Priorities shape only when the parent's max-limit sits below the real link rate.
    objects.push({ key: `queue:${direction}`, props: { name: root, parent, 'max-limit': shaped } });
    for (const c of policy.classes) {
      objects.push({ key: `queue:${direction}-${c.name}`, props: { name: `${root}-${c.name}`, parent: root, 'packet-mark': `${NAME_PREFIX}${c.name}`, priority: String(c.priority), 'limit-at': bits(c.rateMbps), 'max-limit': bits(c.ceilMbps) } });
    }
    objects.push({ key: `queue:${direction}-best-effort`, props: { name: `${root}-best-effort`, parent: root, 'packet-mark': 'no-mark', priority: '8', 'limit-at': bits(bestEffortMbps(policy, direction)), 'max-limit': shaped } });
  }
  return objects;
}

function connectionMark(c: TrafficClass, mark: string, way: 'out' | 'in', protocol: string): Record<string, string> {
  const props: Record<string, string> = { chain: 'prerouting', action: 'mark-connection', 'connection-mark': 'no-mark', 'new-connection-mark': mark, passthrough: 'yes' };
  const [src, dst] = way === 'out' ? ['local', 'remote'] : ['remote', 'local'];
  if (c.match[src as 'local'].length > 0) props['src-address-list'] = `${mark}-${src}`;
  if (c.match[dst as 'local'].length > 0) props['dst-address-list'] = `${mark}-${dst}`;
  if (protocol !== 'any') props.protocol = protocol;
  if (c.match.remotePorts.length > 0) props[way === 'out' ? 'dst-port' : 'src-port'] = c.match.remotePorts.map(portRangeText).join(',');
  return props;
}

function bits(mbps: number): string {
  return String(Math.round(mbps * 1000) * 1000);
}

/** Read-back values in the form we write them: 19M → 19000000, true → yes. [ROS prints units] */
export function normaliseValue(prop: string, value: string): string {
  if (/limit/.test(prop)) {
    const m = /^(\d+(?:\.\d+)?)([kMG]?)$/.exec(value);
    if (m) return String(Math.round(Number(m[1]) * ({ '': 1, k: 1e3, M: 1e6, G: 1e9 } as Record<string, number>)[m[2]!]!));
  }
  if (value === 'true') return 'yes';
  if (value === 'false') return 'no';
  return value;
}
