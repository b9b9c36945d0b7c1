import { readFileSync } from 'node:fs';

// Just enough of the pcap file format to read kernel timestamps of captured UDP packets:
// nanosecond-precision files (magic 0xa1b23c4d), Ethernet or Linux "cooked" link types.

export interface CapturedUdp {
  timeNs: bigint;
  srcPort: number;
  dstPort: number;
  payload: Buffer;
}

export function readPcapUdp(path: string): CapturedUdp[] {
  const file = readFileSync(path);
  const magic = file.readUInt32LE(0);
  if (magic !== 0xa1b23c4d) throw new Error(`not a little-endian nanosecond pcap (magic ${magic.toString(16)})`);
  const linkType = file.readUInt32LE(20);
  const linkHeader = linkType === 1 ? 14 : linkType === 113 ? 16 : NaN;
  if (Number.isNaN(linkHeader)) throw new Error(`unsupported link type ${linkType}`);
  const out: CapturedUdp[] = [];
  for (let offset = 24; offset + 16 <= file.length;) {
    const seconds = BigInt(file.readUInt32LE(offset));
    const nanos = BigInt(file.readUInt32LE(offset + 4));
    const captured = file.readUInt32LE(offset + 8);
    const packet = file.subarray(offset + 16, offset + 16 + captured);
    offset += 16 + captured;
    const ip = packet.subarray(linkHeader);
    if (ip.length < 28 || ip[0]! >> 4 !== 4 || ip[9] !== 17) continue;
    const udp = ip.subarray((ip[0]! & 0xf) * 4);
    out.push({ timeNs: seconds * 1_000_000_000n + nanos, srcPort: udp.readUInt16BE(0), dstPort: udp.readUInt16BE(2), payload: udp.subarray(8) });
  }
  return out;
}
