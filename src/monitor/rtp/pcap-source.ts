import { createRequire } from 'node:module';
import { UsmpError } from '../../errors.js';
import type { LinkType } from './rtp-packet.js';

// libpcap through node-pcap (an optional dependency: it needs libpcap-dev to build). Offline for
// `usmp-edge rtp analyze FILE`, live in the capture helper, the only process given CAP_NET_RAW.
// node-pcap reuses one buffer per packet, so a frame must be used before the callback returns.
// node-pcap's session.close() leaves the process hanging (README "Dependencies and why"); the
// helper exits instead.

export interface CapturedFrame {
  timeMs: number;
  linkType: LinkType;
  frame: Buffer;
}

interface PcapSession {
  link_type: LinkType;
  on(event: 'packet', listener: (p: { buf: Buffer; header: Buffer; link_type: LinkType }) => void): void;
  on(event: 'complete', listener: () => void): void;
  close(): void;
  stats(): { ps_recv: number; ps_drop: number; ps_ifdrop: number };
}

interface PcapModule {
  createSession(device: string, options: { filter?: string; buffer_timeout?: number; snap_length?: number; promiscuous?: boolean }): PcapSession;
  createOfflineSession(path: string, options: { filter?: string }): PcapSession;
}

export function loadPcap(): PcapModule {
  try {
    return createRequire(import.meta.url)('pcap') as PcapModule;
  } catch (err) {
    throw new UsmpError('USMP_E_CAPTURE_UNAVAILABLE', `node-pcap is not available: ${(err as Error).message.split('\n')[0]}`, { cause: err });
  }
}

function frameOf(p: { buf: Buffer; header: Buffer; link_type: LinkType }): CapturedFrame {
  const seconds = p.header.readUInt32LE(0);
  const micros = p.header.readUInt32LE(4);
  const caplen = p.header.readUInt32LE(8);
  return { timeMs: seconds * 1000 + micros / 1000, linkType: p.link_type, frame: p.buf.subarray(0, caplen) };
}

/** Reads a capture file through a BPF filter; resolves with the number of frames. */
export function readCaptureFile(path: string, filter: string, onFrame: (f: CapturedFrame) => void): Promise<number> {
  const pcap = loadPcap();
  let session: PcapSession;
  try {
    session = pcap.createOfflineSession(path, { filter });
  } catch (err) {
    throw new UsmpError('USMP_E_CAPTURE_FILE', `cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
  let frames = 0;
  return new Promise((resolve) => {
    session.on('packet', (p) => {
      frames++;
      onFrame(frameOf(p));
    });
    session.on('complete', () => resolve(frames));
  });
}

export interface LiveCapture {
  stats(): { received: number; dropped: number };
}

export function openLiveCapture(iface: string, filter: string, onFrame: (f: CapturedFrame) => void): LiveCapture {
  const pcap = loadPcap();
  let session: PcapSession;
  try {
    // arrival times are the kernel's, so packets may wait in libpcap's buffer (100 ms) and be
    // read in batches; only headers are needed (snap length 256)
    session = pcap.createSession(iface, { filter, buffer_timeout: 100, snap_length: 256, promiscuous: true });
  } catch (err) {
    throw new UsmpError('USMP_E_CAPTURE_UNAVAILABLE', `cannot capture on ${iface}: ${(err as Error).message}`, { cause: err });
  }
  session.on('packet', (p) => onFrame(frameOf(p)));
  return {
    stats: () => {
      const s = session.stats();
      return { received: s.ps_recv, dropped: s.ps_drop + s.ps_ifdrop };
    },
  };
}
