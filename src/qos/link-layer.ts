// Link-layer compensation: what one IP packet really costs on the bottleneck link, so the
// shaper stays below the modem's rate for small packets (voice, TCP ACKs) as for large ones.
//
// `overhead` is the octets each packet carries on that link beyond its IP header and payload,
// `mpu` the smallest frame the link sends, and `type` how the link frames it:
// - ethernet: one frame per packet;
// - ptm (VDSL2, ITU-T G.992.3 Annex N): 64b/65b encoding, 65 octets on the line per 64 sent;
// - atm (ADSL): AAL5 fills 48-octet cell payloads and each cell takes 53 octets on the line,
//   so a 200-octet voice packet with 40 octets of PPPoE/LLC overhead takes five cells, 265 octets.
// The presets and their figures are those of tc-cake(8) "OVERHEAD COMPENSATION PARAMETERS"
// (its keywords pppoe-llcsnap, pppoe-ptm, docsis… under the names of the access types here).

export type LinkLayerType = 'none' | 'ethernet' | 'ptm' | 'atm';

export interface LinkLayer {
  /** The preset's name, or `custom`. */
  preset: string;
  type: LinkLayerType;
  overhead: number;
  mpu: number;
}

export const LINK_LAYER_PRESETS: Record<string, Omit<LinkLayer, 'preset'>> = {
  none: { type: 'none', overhead: 0, mpu: 0 },
  // Preamble and start delimiter 8, header 14, FCS 4, inter-frame gap 12; 64-octet minimum frame.
  ethernet: { type: 'ethernet', overhead: 38, mpu: 84 },
  'ethernet-vlan': { type: 'ethernet', overhead: 42, mpu: 84 },
  docsis: { type: 'ethernet', overhead: 18, mpu: 64 },
  'vdsl-pppoe': { type: 'ptm', overhead: 30, mpu: 0 },
  'vdsl-bridged': { type: 'ptm', overhead: 22, mpu: 0 },
  'adsl-pppoe-llc': { type: 'atm', overhead: 40, mpu: 0 },
  'adsl-pppoe-vcmux': { type: 'atm', overhead: 32, mpu: 0 },
  'adsl-pppoa-llc': { type: 'atm', overhead: 14, mpu: 0 },
  'adsl-pppoa-vcmux': { type: 'atm', overhead: 10, mpu: 0 },
  'adsl-bridged-llc': { type: 'atm', overhead: 32, mpu: 0 },
  'adsl-bridged-vcmux': { type: 'atm', overhead: 24, mpu: 0 },
  // When the access type is unknown, as cake's `conservative`: ATM cells, 48 octets.
  conservative: { type: 'atm', overhead: 48, mpu: 0 },
};

export const LINK_LAYER_PRESET_NAMES = [...Object.keys(LINK_LAYER_PRESETS), 'custom'];
export const OVERHEAD_RANGE = { min: -64, max: 256 } as const;
export const MPU_RANGE = { min: 0, max: 256 } as const;
export const NO_LINK_LAYER: LinkLayer = { preset: 'none', ...LINK_LAYER_PRESETS.none! };

/** ATM: cells of 48 octets of payload, 53 on the line. */
const ATM_PAYLOAD = 48;
const ATM_CELL = 53;
/** PTM: 64b/65b. */
const PTM_NUMERATOR = 65;
const PTM_DENOMINATOR = 64;
/** What the kernel counts of a packet on an Ethernet device: the IP packet and the 14-octet MAC header. */
export const KERNEL_COUNTED_L2 = 14;

/** Octets on the line for an IP packet of this length. */
export function wireBytes(link: LinkLayer, ipBytes: number): number {
  if (link.type === 'none') return ipBytes;
  const framed = Math.max(ipBytes + link.overhead, link.mpu);
  if (link.type === 'atm') return Math.ceil(framed / ATM_PAYLOAD) * ATM_CELL;
  if (link.type === 'ptm') return (framed * PTM_NUMERATOR) / PTM_DENOMINATOR;
  return framed;
}

/**
 * The size table that makes a qdisc count line octets [tc-stab(8)]. Its overhead is added to
 * what the kernel counts (MAC header included), so ours loses those 14 octets. tc's stab has no
 * PTM mode: PTM's 64b/65b is a fixed share, taken from the rates instead (ptmRateFactor).
 */
export function stabArgs(link: LinkLayer): string[] {
  if (link.type === 'none') return [];
  return ['stab', 'linklayer', link.type === 'atm' ? 'atm' : 'ethernet', 'overhead', String(link.overhead - KERNEL_COUNTED_L2), 'mpu', String(link.mpu)];
}

/** How a size table reads back in `tc -d -j qdisc show` (mpu is printed only when set). */
export function stabReadBack(link: LinkLayer): string {
  if (link.type === 'none') return '';
  return `${link.type === 'atm' ? 'atm' : 'ethernet'}/${link.overhead - KERNEL_COUNTED_L2}/${link.mpu}`;
}

export function ptmRateFactor(link: LinkLayer): number {
  return link.type === 'ptm' ? PTM_DENOMINATOR / PTM_NUMERATOR : 1;
}

/** The share of the line an IP packet of this size gets as payload (for the RouterOS rate reduction and the report). */
export function efficiency(link: LinkLayer, ipBytes: number): number {
  return ipBytes / wireBytes(link, ipBytes);
}

export function describeLinkLayer(link: LinkLayer): string {
  if (link.type === 'none') return 'none (IP octets counted)';
  return `${link.preset === 'custom' ? 'custom' : link.preset}: ${link.type}, overhead ${link.overhead} octets, mpu ${link.mpu}; a 200-octet packet takes ${round1(wireBytes(link, 200))} octets on the line, a 1500-octet one ${round1(wireBytes(link, 1500))}`;
}

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}
