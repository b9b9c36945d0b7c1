import { openLiveCapture } from './pcap-source.js';
import { decodeMediaFrame, type MediaFrame } from './media-frame.js';

// The capture helper: the only process of the appliance that holds CAP_NET_RAW. It decodes RTP
// headers and RTCP report blocks (nothing of the media leaves it) and writes one JSON line per packet on stdout for
// the daemon, plus a stats line every 5 s. It ends when the daemon goes (its parent changes) or on
// SIGTERM, by process.exit: node-pcap's close() leaves the process hanging (see pcap-source.ts).
// Installed, it runs as its own unit (systemd/usmp-edge-capture@.service), started per
// connection on a unix socket whose stdin and stdout are that connection: it then reads its
// request from stdin (readCaptureRequest) and ends when the daemon closes the socket.

export type HelperLine = MediaFrame | { stats: { received: number; dropped: number } } | { ready: { iface: string; filter: string } };

export function runCaptureHelper(iface: string, filter: string, endWithStdin = false): void {
  let pending: string[] = [];
  const flush = (): void => {
    if (pending.length === 0) return;
    process.stdout.write(`${pending.join('\n')}\n`);
    pending = [];
  };
  const emit = (line: HelperLine): void => {
    if (pending.push(JSON.stringify(line)) === 1) setImmediate(flush);
  };
  const capture = openLiveCapture(iface, filter, (f) => {
    const media = decodeMediaFrame(f.linkType, f.frame, f.timeMs);
    if (media) emit(media);
  });
  emit({ ready: { iface, filter } });
  setInterval(() => emit({ stats: capture.stats() }), 5000).unref();
  const end = (): never => {
    emit({ stats: capture.stats() }); // the last word: what libpcap received and dropped in all
    flush();
    process.exit(0);
  };
  const parent = process.ppid;
  setInterval(() => process.ppid !== parent && end(), 1000).unref(); // the daemon died: we are orphaned
  process.once('SIGTERM', end);
  process.once('SIGINT', end);
  process.stdout.on('error', end); // the daemon went away
  if (endWithStdin) {
    process.stdin.on('end', end).on('close', end).on('error', end).resume();
  }
}
