import { isIP } from 'node:net';

// Prefixes and port ranges of the matchers, with the two questions validation asks of them:
// do two of them share an address (or a port)?

export interface Cidr {
  family: 4 | 6;
  /** The network address as a big integer, host bits cleared. */
  network: bigint;
  bits: number;
  text: string;
}

export interface PortRange {
  first: number;
  last: number;
}

export function parseCidr(text: string): Cidr | undefined {
  const [address, lengthText] = text.split('/');
  const family = isIP(address ?? '');
  if (family !== 4 && family !== 6) return undefined;
  const width = family === 4 ? 32 : 128;
  const bits = lengthText === undefined ? width : Number(lengthText);
  if (!Number.isInteger(bits) || bits < 0 || bits > width || (lengthText !== undefined && !/^\d+$/.test(lengthText))) return undefined;
  const value = family === 4 ? ipv4ToBigInt(address!) : ipv6ToBigInt(address!);
  const mask = bits === 0 ? 0n : ((1n << BigInt(bits)) - 1n) << BigInt(width - bits);
  const network = value & mask;
  return { family, network, bits, text: `${family === 4 ? bigIntToIpv4(network) : address}/${bits}` };
}

export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  if (a.family !== b.family) return false;
  const width = a.family === 4 ? 32 : 128;
  const shorter = Math.min(a.bits, b.bits);
  const shift = BigInt(width - shorter);
  return a.network >> shift === b.network >> shift;
}

export function cidrContains(prefix: Cidr, address: string): boolean {
  const host = parseCidr(address);
  return host !== undefined && host.family === prefix.family && cidrsOverlap(prefix, host) && host.bits >= prefix.bits;
}

export function parsePortRange(text: string): PortRange | undefined {
  const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(text.trim());
  if (!m) return undefined;
  const first = Number(m[1]);
  const last = m[2] === undefined ? first : Number(m[2]);
  if (first < 1 || last > 65535 || last < first) return undefined;
  return { first, last };
}

export function portRangesOverlap(a: PortRange, b: PortRange): boolean {
  return a.first <= b.last && b.first <= a.last;
}

export function portRangeText(r: PortRange): string {
  return r.first === r.last ? String(r.first) : `${r.first}-${r.last}`;
}

function ipv4ToBigInt(address: string): bigint {
  return address.split('.').reduce((acc, octet) => (acc << 8n) | BigInt(Number(octet)), 0n);
}

function bigIntToIpv4(value: bigint): string {
  return [24n, 16n, 8n, 0n].map((s) => String((value >> s) & 255n)).join('.');
}

function ipv6ToBigInt(address: string): bigint {
  const [head, tail] = address.includes('::') ? address.split('::') : [address, undefined];
  const headParts = head ? head.split(':').filter(Boolean) : [];
  const tailParts = tail ? tail.split(':').filter(Boolean) : [];
  const expand = (parts: string[]): string[] => parts.flatMap((p) => (p.includes('.') ? ipv4Groups(p) : [p]));
  const h = expand(headParts);
  const t = expand(tailParts);
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n);
}

function ipv4Groups(dotted: string): string[] {
  const v = ipv4ToBigInt(dotted);
  return [((v >> 16n) & 0xffffn).toString(16), (v & 0xffffn).toString(16)];
}
