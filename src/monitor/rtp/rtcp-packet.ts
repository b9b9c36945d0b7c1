import type { UdpDatagram } from './rtp-packet.js';

// The report blocks of RTCP sender and receiver reports [RFC 3550 §6.4]: how the far end saw
// each stream it receives (fraction lost, cumulative lost, interarrival jitter). A compound
// packet [RFC 3550 §6.1] is walked packet by packet; every length is checked before it is read,
// and a malformed compound gives nothing at all rather than half of it.

const SR = 200;
const RR = 201;
const REPORT_BLOCK_OCTETS = 24;
const SENDER_INFO_OCTETS = 20;

export interface RtcpReportBlock {
  /** The SSRC of the reporter, and of the stream it reports on. */
  reporter: number;
  source: number;
  /** Fraction of packets lost since the previous report, 0..1 [§6.4.1]. */
  fractionLost: number;
  /** Packets lost since the start of reception (signed 24-bit). */
  cumulativeLost: number;
  highestSequence: number;
  /** Interarrival jitter in timestamp units [§6.4.1, A.8]. */
  jitter: number;
}

export interface RtcpPacketInfo {
  timeMs: number;
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
  blocks: RtcpReportBlock[];
}

/** The report blocks of an RTCP compound packet, or undefined when the datagram is not one. */
export function parseRtcpCompound(buf: Buffer): RtcpReportBlock[] | undefined {
  const blocks: RtcpReportBlock[] = [];
  let at = 0;
  let packets = 0;
  while (at < buf.length) {
    if (buf.length < at + 4) return undefined;
    const first = buf[at]!;
    if (first >> 6 !== 2) return undefined;
    const count = first & 0x1f;
    const type = buf[at + 1]!;
    const octets = (buf.readUInt16BE(at + 2) + 1) * 4;
    if (buf.length < at + octets) return undefined;
    // the first packet of a compound is an SR or an RR [§6.1]
    if (packets === 0 && type !== SR && type !== RR) return undefined;
    if (type === SR || type === RR) {
      const headerOctets = 8 + (type === SR ? SENDER_INFO_OCTETS : 0);
      if (octets < headerOctets + count * REPORT_BLOCK_OCTETS) return undefined;
      const reporter = buf.readUInt32BE(at + 4);
      for (let i = 0; i < count; i++) {
        const b = at + headerOctets + i * REPORT_BLOCK_OCTETS;
        const lostField = buf.readUInt32BE(b + 4);
        const cumulative = lostField & 0xffffff;
        blocks.push({
          reporter,
          source: buf.readUInt32BE(b),
          fractionLost: (lostField >>> 24) / 256,
          cumulativeLost: cumulative & 0x800000 ? cumulative - 0x1000000 : cumulative,
          highestSequence: buf.readUInt32BE(b + 8),
          jitter: buf.readUInt32BE(b + 12),
        });
      }
    }
    at += octets;
    packets++;
  }
  return packets > 0 ? blocks : undefined;
}

export function rtcpOf(udp: UdpDatagram): RtcpPacketInfo | undefined {
  const blocks = parseRtcpCompound(udp.payload);
  if (!blocks) return undefined;
  return { timeMs: udp.timeMs, src: udp.src, dst: udp.dst, srcPort: udp.srcPort, dstPort: udp.dstPort, blocks };
}
