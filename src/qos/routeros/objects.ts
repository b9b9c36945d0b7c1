import { portRangeText, type Cidr } from '../addresses.js';
import { efficiency } from '../link-layer.js';
import type { QosObject } from '../objects.js';
import { bestEffortMbps, shapedMbps, type QosPolicy, type TrafficClass } from '../policy.js';

// The RouterOS objects of a policy [help.mikrotik.com "Queues", "Mangle", "FastTrack"]: address lists,
// connection and packet marks, DSCP rewrite, the FastTrack exclusion (FastTracked packets
// skip queue trees), and a queue tree per direction on the WAN (upload) and LAN (download)
// interface. IPv4 and IPv6 have separate firewalls (/ip/firewall, /ipv6/firewall); the queue
// tree is shared and sees the packet marks of both. Every object carries
// comment=usmp-qos:v1:<key>, which is how we find ours, and named objects start with usmp-qos-.
// ASCII only (the API carries 8-bit text, shown by the router as win1252).

export const COMMENT_PREFIX = 'usmp-qos:v1:';
/** [help.mikrotik.com "Queues" §Queue Tree: queue (default: default-small)] */
export const DEFAULT_TREE_QUEUE = 'default-small';
const FULL_SIZE_PACKET = 1500;
export const NAME_PREFIX = 'usmp-qos-';

export const MENUS = {
  'address-list': '/ip/firewall/address-list',
  mangle: '/ip/firewall/mangle',
  filter: '/ip/firewall/filter',
  'address-list6': '/ipv6/firewall/address-list',
  mangle6: '/ipv6/firewall/mangle',
  filter6: '/ipv6/firewall/filter',
  queue: '/queue/tree',
  'queue-type': '/queue/type',
} as const;
export type MenuKind = keyof typeof MENUS;
export type Family = 4 | 6;

/** Removal order: what depends on others goes first. Creation is the reverse. */
export const REMOVAL_ORDER: MenuKind[] = ['queue', 'queue-type', 'filter', 'filter6', 'mangle', 'mangle6', 'address-list', 'address-list6'];

export function firewallKind(base: 'address-list' | 'mangle' | 'filter', family: Family): MenuKind {
  return family === 4 ? base : `${base}6`;
}

export interface RouterInterfaces {
  wan: string;
  lan: string;
  /**
   * The queue kind of our leaves: RouterOS 7's fq-codel or cake [help.mikrotik.com "Queues"
   * §Queue Types], one queue type of ours; undefined: the router's default for queue trees.
   */
  queueKind?: 'fq-codel' | 'cake';
}

/** Which families have a FastTrack rule (then our flows need an exclusion there). */
export type FasttrackPresence = Record<Family, boolean>;

export function menuOf(key: string): MenuKind {
  return key.slice(0, key.indexOf(':')) as MenuKind;
}

/**
 * An address as RouterOS stores and prints it: an IPv4 host without /32, an IPv6 entry always
 * with its prefix length (terraform-provider-routeros: the IPv4 address-list resource's read-back
 * `"address": "0.0.0.0"`, and PR #216 "ipv6 addr-list addr w/o netmask adds /128 netmask").
 */
export function routerAddress(text: string): string {
  const [address, bits] = text.split('/');
  if (address!.includes(':')) return `${address}/${bits ?? '128'}`;
  return bits === undefined || bits === '32' ? address! : `${address}/${bits}`;
}

/** The families a class's rules exist in: those every address side it names has entries in. */
export function classFamilies(c: TrafficClass): Family[] {
  const sides = [c.match.local, c.match.remote].filter((s) => s.length > 0);
  if (sides.length === 0) return [4, 6];
  return ([4, 6] as const).filter((f) => sides.every((s) => s.some((cidr: Cidr) => cidr.family === f)));
}

export function desiredRouterObjects(policy: QosPolicy, ifs: RouterInterfaces, fasttrack: FasttrackPresence, ipv6 = true): QosObject[] {
  const objects: QosObject[] = [];
  for (const c of policy.classes) {
    const mark = `${NAME_PREFIX}${c.name}`;
    // A router without IPv6 (its package or its stack disabled) gets no /ipv6 rules for classes
    // without addresses; an IPv6 class there fails at its first add, with the router's message.
    const families = classFamilies(c).filter((f) => f === 4 || ipv6 || c.match.local.length + c.match.remote.length > 0);
    for (const family of families) {
      const list = firewallKind('address-list', family);
      const mangle = firewallKind('mangle', family);
      for (const side of ['local', 'remote'] as const) {
        for (const cidr of c.match[side].filter((x) => x.family === family)) {
          objects.push({ key: `${list}:${mark}-${side}:${cidr.text}`, props: { list: `${mark}-${side}`, address: routerAddress(cidr.text) } });
        }
      }
      const split = c.match.protocol === 'any' && c.match.remotePorts.length > 0;
      for (const protocol of split ? (['tcp', 'udp'] as const) : [c.match.protocol]) {
        const suffix = split ? `:${protocol}` : '';
        objects.push({ key: `${mangle}:${c.name}:conn-out${suffix}`, props: connectionMark(c, mark, 'out', protocol) });
        objects.push({ key: `${mangle}:${c.name}:conn-in${suffix}`, props: connectionMark(c, mark, 'in', protocol) });
      }
      objects.push({
        key: `${mangle}:${c.name}:packet`,
        props: { chain: 'prerouting', action: 'mark-packet', 'connection-mark': mark, 'new-packet-mark': mark, passthrough: 'yes' },
      });
      objects.push({
        key: `${mangle}:${c.name}:dscp`,
        props: { chain: 'postrouting', action: 'change-dscp', 'packet-mark': mark, 'new-dscp': String(c.dscp), passthrough: 'yes' },
      });
      if (fasttrack[family]) {
        objects.push({
          key: `${firewallKind('filter', family)}:${c.name}:no-fasttrack`,
          props: { chain: 'forward', action: 'accept', 'connection-state': 'established,related', 'connection-mark': mark },
        });
      }
    }
  }
  const queueType = ifs.queueKind ? `${NAME_PREFIX}${ifs.queueKind}` : undefined;
  if (ifs.queueKind) objects.push({ key: `queue-type:${ifs.queueKind}`, props: { name: queueType!, kind: ifs.queueKind } });
  // Named even when it is the router's default for queue trees (default-small), so that going
  // back from fq-codel or cake sets our leaves back before their queue type is removed.
  const leafQueue: Record<string, string> = { queue: queueType ?? DEFAULT_TREE_QUEUE };
  // A queue tree has no size table: the link layer is compensated by taking from every rate
  // what the line costs full-size packets (bulk traffic, which is what fills the link).
  const line = efficiency(policy.linkLayer, FULL_SIZE_PACKET);
  for (const [direction, parent] of [
    ['up', ifs.wan],
    ['down', ifs.lan],
  ] as const) {
    const root = `${NAME_PREFIX}${direction}`;
    const shaped = bits(shapedMbps(policy, direction) * line);
    // Priorities shape only when the parent's max-limit sits below the real link rate.
    objects.push({ key: `queue:${direction}`, props: { name: root, parent, 'max-limit': shaped } });
    for (const c of policy.classes) {
      objects.push({
        key: `queue:${direction}-${c.name}`,
        props: {
          name: `${root}-${c.name}`,
          parent: root,
          'packet-mark': `${NAME_PREFIX}${c.name}`,
          priority: String(c.priority),
          'limit-at': bits(c.rateMbps * line),
          'max-limit': bits(c.ceilMbps * line),
          ...leafQueue,
        },
      });
    }
    objects.push({
      key: `queue:${direction}-best-effort`,
      props: {
        name: `${root}-best-effort`,
        parent: root,
        'packet-mark': 'no-mark',
        priority: '8',
        'limit-at': bits(bestEffortMbps(policy, direction) * line),
        'max-limit': shaped,
        ...leafQueue,
      },
    });
  }
  return objects;
}

function connectionMark(c: TrafficClass, mark: string, way: 'out' | 'in', protocol: string): Record<string, string> {
  const props: Record<string, string> = {
    chain: 'prerouting',
    action: 'mark-connection',
    'connection-mark': 'no-mark',
    'new-connection-mark': mark,
    passthrough: 'yes',
  };
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
  if (prop === 'address' && /^[\d.:a-fA-F]+(\/\d+)?$/.test(value)) return routerAddress(value);
  if (value === 'true') return 'yes';
  if (value === 'false') return 'no';
  return value;
}
