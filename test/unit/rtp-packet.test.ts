import t from 'tap';
import { decodeRtpFrame } from '../../src/monitor/rtp/rtp-packet.js';

// Frames a capture may hand over: each link type, VLAN tags, IPv6, and what must be set aside
// (not UDP, later fragments, RTCP, not version 2, truncated anywhere) without ever throwing.

function rtp(seq = 7, pt = 0, csrc = 0): Buffer {
  const b = Buffer.alloc(12 + 4 * csrc + 20);
  b[0] = 0x80 | csrc;
  b[1] = 0x80 | pt;
  b.writeUInt16BE(seq, 2);
  b.writeUInt32BE(160, 4);
  b.writeUInt32BE(0xabcdef01, 8);
  return b;
}
function udp(payload: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt16BE(40000, 0);
  h.writeUInt16BE(5004, 2);
  h.writeUInt16BE(8 + payload.length, 4);
  return Buffer.concat([h, payload]);
}
function ipv4(l4: Buffer, { proto = 17, tos = 46 << 2, frag = 0 } = {}): Buffer {
  const h = Buffer.alloc(20);
  h[0] = 0x45;
  h[1] = tos;
  h.writeUInt16BE(20 + l4.length, 2);
  h.writeUInt16BE(frag, 6);
  h[9] = proto;
  Buffer.from([198, 19, 1, 10, 198, 18, 1, 10]).copy(h, 12);
  return Buffer.concat([h, l4]);
}
function ipv6(l4: Buffer): Buffer {
  const h = Buffer.alloc(40);
  h.writeUInt32BE((6 << 28) | (34 << 22), 0);
  h.writeUInt16BE(l4.length, 4);
  h[6] = 17;
  h[23] = 1;
  h[39] = 2;
  return Buffer.concat([h, l4]);
}
const ether = (ip: Buffer, type = 0x0800, vlan = false) => {
  const h = Buffer.alloc(vlan ? 18 : 14);
  if (vlan) {
    h.writeUInt16BE(0x8100, 12);
    h.writeUInt16BE(type, 16);
  } else h.writeUInt16BE(type, 12);
  return Buffer.concat([h, ip]);
};
const sll = (ip: Buffer) => {
  const h = Buffer.alloc(16);
  h.writeUInt16BE(0x0800, 14);
  return Buffer.concat([h, ip]);
};

t.test('each link type, a VLAN tag, IPv6, CSRCs', async (t) => {
  const frame = ether(ipv4(udp(rtp())));
  t.match(decodeRtpFrame('LINKTYPE_ETHERNET', frame, 1000.5), {
    timeMs: 1000.5,
    src: '198.19.1.10',
    dst: '198.18.1.10',
    srcPort: 40000,
    dstPort: 5004,
    dscp: 46,
    payloadType: 0,
    marker: true,
    seq: 7,
    timestamp: 160,
    ssrc: 0xabcdef01,
    rtpLength: 32,
    ipv6: false,
  });
  t.match(decodeRtpFrame('LINKTYPE_ETHERNET', ether(ipv4(udp(rtp())), 0x0800, true), 0), { seq: 7 }, '802.1Q');
  t.match(decodeRtpFrame('LINKTYPE_LINUX_SLL', sll(ipv4(udp(rtp()))), 0), { seq: 7 }, 'Linux cooked (any)');
  t.match(decodeRtpFrame('LINKTYPE_RAW', ipv4(udp(rtp())), 0), { seq: 7 });
  t.match(decodeRtpFrame('LINKTYPE_NULL', Buffer.concat([Buffer.alloc(4), ipv4(udp(rtp()))]), 0), { seq: 7 });
  t.match(decodeRtpFrame('LINKTYPE_ETHERNET', ether(ipv6(udp(rtp())), 0x86dd), 0), { ipv6: true, dscp: 34, src: '::1', seq: 7 });
  t.match(decodeRtpFrame('LINKTYPE_RAW', ipv4(udp(rtp(9, 8, 2))), 0), { seq: 9, payloadType: 8 }, 'with two CSRCs');
});

t.test('what is not RTP is set aside, never thrown on', async (t) => {
  const none = (linkType: string, frame: Buffer, why: string) => t.equal(decodeRtpFrame(linkType, frame, 0), undefined, why);
  none('LINKTYPE_ETHERNET', ether(ipv4(udp(rtp())), 0x0806), 'ARP');
  none('LINKTYPE_ETHERNET', ether(ipv4(udp(rtp()), { proto: 6 })), 'TCP');
  none('LINKTYPE_ETHERNET', ether(ipv4(udp(rtp()), { frag: 185 })), 'a later fragment');
  none('LINKTYPE_RAW', ipv4(udp(rtp(1, 72))), 'RTCP sender report');
  const v1 = rtp();
  v1[0] = 0x40;
  none('LINKTYPE_RAW', ipv4(udp(v1)), 'RTP version 1');
  none('LINKTYPE_RAW', ipv4(udp(rtp(1, 0, 15)).subarray(0, 40)), 'CSRC list longer than the packet');
  none('LINKTYPE_IEEE802_11_RADIO', ipv4(udp(rtp())), 'link type we do not read');
  none('LINKTYPE_RAW', Buffer.from([0x20]), 'IP version 2');
  const full = ether(ipv4(udp(rtp())));
  for (let cut = 0; cut < full.length - 20; cut++) t.equal(decodeRtpFrame('LINKTYPE_ETHERNET', full.subarray(0, cut), 0), undefined, `cut at ${cut}`);
  none('LINKTYPE_LINUX_SLL', Buffer.alloc(10), 'short SLL');
  none('LINKTYPE_ETHERNET', ether(ipv6(udp(rtp())).subarray(0, 30), 0x86dd), 'short IPv6');
});
