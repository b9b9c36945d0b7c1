// Decoding just enough of a captured frame to analyse RTP: link layer → IPv4/IPv6 → UDP → the
// RTP fixed header [RFC 3550 §5.1]. Every length is checked before it is read; anything that is
// not a well-formed RTP-looking datagram gives undefined (a capture sees all kinds of traffic).

/** libpcap's name of a capture's link type; LINKTYPE_ETHERNET, _LINUX_SLL, _RAW and _NULL are decoded. */
export type LinkType = string;

export interface RtpPacketInfo {
  /** Arrival time from the capture header, ms since the epoch (µs precision). */
  timeMs: number;
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
  /** DSCP of the IP header the packet arrived with. */
  dscp: number;
  ipv6: boolean;
  payloadType: number;
  marker: boolean;
  seq: number;
  timestamp: number;
  ssrc: number;
  /** UDP payload length (RTP header + payload), as Wireshark's bandwidth figures use it. */
  rtpLength: number;
}

const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_IPV6 = 0x86dd;
const ETHERTYPE_VLAN = [0x8100, 0x88a8];
const UDP = 17;

/** Where the IP header starts and which version it is, for the link types libpcap gives us. */
function ipStart(linkType: LinkType, frame: Buffer): { offset: number; version: 4 | 6 } | undefined {
  let offset: number;
  let etherType: number;
  switch (linkType) {
    case 'LINKTYPE_ETHERNET':
      if (frame.length < 14) return undefined;
      etherType = frame.readUInt16BE(12);
      offset = 14;
      while (ETHERTYPE_VLAN.includes(etherType) && frame.length >= offset + 4) {
        etherType = frame.readUInt16BE(offset + 2);
        offset += 4;
      }
      break;
    case 'LINKTYPE_LINUX_SLL':
      if (frame.length < 16) return undefined;
      etherType = frame.readUInt16BE(14);
      offset = 16;
      break;
    case 'LINKTYPE_RAW':
    case 'LINKTYPE_NULL': {
      offset = linkType === 'LINKTYPE_NULL' ? 4 : 0;
      if (frame.length <= offset) return undefined;
      const version = frame[offset]! >> 4;
      return version === 4 || version === 6 ? { offset, version } : undefined;
    }
    default:
      return undefined;
  }
  if (etherType === ETHERTYPE_IPV4) return { offset, version: 4 };
  if (etherType === ETHERTYPE_IPV6) return { offset, version: 6 };
  return undefined;
}

function ipv4Address(buf: Buffer, at: number): string {
  return `${buf[at]}.${buf[at + 1]}.${buf[at + 2]}.${buf[at + 3]}`;
}

function ipv6Address(buf: Buffer, at: number): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(buf.readUInt16BE(at + i).toString(16));
  return groups.join(':').replace(/(^|:)0(:0)+(:|$)/, '::');
}

/** A UDP datagram of a captured frame: addresses, ports, DSCP and where its payload lies. */
export interface UdpDatagram {
  timeMs: number;
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
  dscp: number;
  ipv6: boolean;
  /** The UDP payload as captured (it may be cut short by the snap length). */
  payload: Buffer;
  /** The UDP payload's length as the UDP header states it. */
  payloadLength: number;
}

export function decodeUdpFrame(linkType: LinkType, frame: Buffer, timeMs: number): UdpDatagram | undefined {
  const ip = ipStart(linkType, frame);
  if (!ip) return undefined;
  let udpAt: number;
  let src: string;
  let dst: string;
  let dscp: number;
  if (ip.version === 4) {
    const at = ip.offset;
    if (frame.length < at + 20 || frame[at]! >> 4 !== 4) return undefined;
    const headerLength = (frame[at]! & 0x0f) * 4;
    if (headerLength < 20 || frame[at + 9] !== UDP) return undefined;
    if ((frame.readUInt16BE(at + 6) & 0x1fff) !== 0) return undefined; // a later fragment has no UDP header
    dscp = frame[at + 1]! >> 2;
    src = ipv4Address(frame, at + 12);
    dst = ipv4Address(frame, at + 16);
    udpAt = at + headerLength;
  } else {
    const at = ip.offset;
    if (frame.length < at + 40 || frame[at + 6] !== UDP) return undefined; // extension headers: not analysed
    dscp = (frame.readUInt16BE(at) >> 6) & 0x3f;
    src = ipv6Address(frame, at + 8);
    dst = ipv6Address(frame, at + 24);
    udpAt = at + 40;
  }
  if (frame.length < udpAt + 8) return undefined;
  const udpLength = frame.readUInt16BE(udpAt + 4);
  if (udpLength < 8) return undefined;
  const payloadAt = udpAt + 8;
  return {
    timeMs,
    src,
    dst,
    dscp,
    ipv6: ip.version === 6,
    srcPort: frame.readUInt16BE(udpAt),
    dstPort: frame.readUInt16BE(udpAt + 2),
    payload: frame.subarray(payloadAt, Math.min(frame.length, payloadAt + udpLength - 8)),
    payloadLength: udpLength - 8,
  };
}

/** True when the second octet is an RTCP packet type, SR/RR/SDES/BYE/APP [RFC 5761 §4]. */
export function looksLikeRtcp(payload: Buffer): boolean {
  return payload.length >= 8 && payload[0]! >> 6 === 2 && payload[1]! >= 200 && payload[1]! <= 204;
}

export function decodeRtpFrame(linkType: LinkType, frame: Buffer, timeMs: number): RtpPacketInfo | undefined {
  const udp = decodeUdpFrame(linkType, frame, timeMs);
  return udp ? rtpOf(udp) : undefined;
}

/** The RTP fixed header of a datagram [RFC 3550 §5.1], or undefined when it is not RTP. */
export function rtpOf(udp: UdpDatagram): RtpPacketInfo | undefined {
  const rtp = udp.payload;
  if (rtp.length < 12) return undefined;
  const first = rtp[0]!;
  if (first >> 6 !== 2) return undefined; // RTP version 2
  const csrcCount = first & 0x0f;
  if (rtp.length < 12 + 4 * csrcCount) return undefined;
  const second = rtp[1]!;
  const payloadType = second & 0x7f;
  if (payloadType >= 72 && payloadType <= 76) return undefined; // RTCP SR/RR/SDES/BYE/APP [RFC 5761 §4]
  return {
    timeMs: udp.timeMs,
    src: udp.src,
    dst: udp.dst,
    srcPort: udp.srcPort,
    dstPort: udp.dstPort,
    dscp: udp.dscp,
    ipv6: udp.ipv6,
    payloadType,
    marker: (second & 0x80) !== 0,
    seq: rtp.readUInt16BE(2),
    timestamp: rtp.readUInt32BE(4),
    ssrc: rtp.readUInt32BE(8),
    rtpLength: udp.payloadLength,
  };
}
