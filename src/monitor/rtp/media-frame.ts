import { rtcpOf, type RtcpPacketInfo } from './rtcp-packet.js';
import { decodeUdpFrame, looksLikeRtcp, rtpOf, type LinkType, type RtpPacketInfo } from './rtp-packet.js';

// A captured frame as the calls' analysis takes it: an RTCP compound (its report blocks), an
// RTP packet (its header), or nothing of ours. RTCP is told apart by its packet type, as a
// receiver of multiplexed RTP and RTCP does [RFC 5761 §4].

export type MediaFrame = { rtp: RtpPacketInfo } | { rtcp: RtcpPacketInfo };

export function decodeMediaFrame(linkType: LinkType, frame: Buffer, timeMs: number): MediaFrame | undefined {
  const udp = decodeUdpFrame(linkType, frame, timeMs);
  if (!udp) return undefined;
  if (looksLikeRtcp(udp.payload)) {
    const rtcp = rtcpOf(udp);
    return rtcp ? { rtcp } : undefined;
  }
  const rtp = rtpOf(udp);
  return rtp ? { rtp } : undefined;
}
