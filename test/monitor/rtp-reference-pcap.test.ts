import t from 'tap';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { RtpStreamSummary } from '../../src/monitor/rtp/rtp-streams.js';
import { parseTsharkRtpStreams } from '../fixtures/tshark-rtp.js';

// A small committed capture (test/fixtures/rtp-pcap/edge-cases.pcap, made by make-rtp-pcap.ts
// beside it) with the cases of RFC 3550 A.1 and A.8 a live capture rarely shows: a sequence
// wrap at 65 535, a burst of losses, a duplicate, two packets swapped, a timestamp wrap at 2^32,
// and video whose frames share a timestamp. `usmp-edge rtp analyze` as shipped and tshark read
// the same file; no root, no lab.

const run = promisify(execFile);
const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
const FIXTURE = fileURLToPath(new URL('../fixtures/rtp-pcap/edge-cases.pcap', import.meta.url));
const GENERATOR = fileURLToPath(new URL('../fixtures/rtp-pcap/make-rtp-pcap.ts', import.meta.url));

t.test('the committed capture is what its generator makes, octet for octet', async (t) => {
  const again = join(t.testdir(), 'again.pcap');
  await run(process.execPath, ['--import', 'tsx', GENERATOR, again]);
  t.ok(readFileSync(again).equals(readFileSync(FIXTURE)), 'same octets');
});

t.test('rtp analyze equals tshark on every stream of the committed capture', async (t) => {
  const ours = JSON.parse((await run(process.execPath, [CLI, 'rtp', 'analyze', FIXTURE, '--json', '--clock-rate', '96=90000'])).stdout) as {
    streams: RtpStreamSummary[];
  };
  const decodeAs = [5004, 5006, 5008, 5010].flatMap((port) => ['-d', `udp.port==${port},rtp`]);
  const tshark = parseTsharkRtpStreams((await run('tshark', ['-r', FIXTURE, '-q', ...decodeAs, '-z', 'rtp,streams'])).stdout);
  t.equal(tshark.length, 4, 'tshark sees four streams');
  t.equal(ours.streams.length, 4, 'we see four streams');
  const pair = (ssrc: string) => ({ ours: ours.streams.find((s) => s.ssrc === ssrc)!, ref: tshark.find((s) => s.ssrc === ssrc)! });

  // What the generator made, known without either tool
  const truth: Record<string, { packets: number; lost: number }> = {
    '0x0000a001': { packets: 200, lost: 0 }, // across the sequence wrap
    '0x0000a002': { packets: 197, lost: 3 }, // 196 sent of 200 (4 dropped) + 1 duplicate: RFC 3550 A.3 counts it against the lost
    '0x0000a003': { packets: 200, lost: 0 }, // across the timestamp wrap
    '0x0000a004': { packets: 300, lost: 0 },
  };
  for (const [ssrc, expected] of Object.entries(truth)) {
    const { ours: s, ref } = pair(ssrc);
    t.same({ packets: s.packets, lost: s.lost }, expected, `${ssrc}: packets and lost as made`);
    t.same({ packets: ref.packets, lost: ref.lost }, expected, `${ssrc}: and as tshark counts them`);
  }

  for (const ssrc of ['0x0000a001', '0x0000a003']) {
    const { ours: s, ref } = pair(ssrc);
    t.ok(Math.abs(s.mean_jitter_ms! - ref.meanJitter) <= 0.01, `${ssrc}: mean jitter ${s.mean_jitter_ms} ms vs tshark ${ref.meanJitter}`);
    t.ok(Math.abs(s.max_jitter_ms! - ref.maxJitter) <= 0.01, `${ssrc}: max jitter ${s.max_jitter_ms} ms vs tshark ${ref.maxJitter}`);
  }

  // With a packet out of order the two differ by design: RFC 3550 A.8 (ours) takes every packet
  // in arrival order, against the one before it; Wireshark measures a late packet against the
  // last one in timestamp order and leaves it out of its mean and maximum (ui/tap-rtp-analysis.c).
  const swapped = pair('0x0000a002');
  t.ok(
    Math.abs(swapped.ours.mean_jitter_ms! - swapped.ref.meanJitter) <= 0.1,
    `0x0000a002: mean jitter ${swapped.ours.mean_jitter_ms} ms vs tshark ${swapped.ref.meanJitter}, within 0.1 ms`,
  );
  t.ok(
    Math.abs(swapped.ours.max_jitter_ms! - swapped.ref.maxJitter) <= 0.5,
    `0x0000a002: max jitter ${swapped.ours.max_jitter_ms} ms vs tshark ${swapped.ref.maxJitter}, within 0.5 ms`,
  );

  // tshark has no clock for a dynamic payload type without the call's SDP; we are told it
  const video = pair('0x0000a004');
  t.equal(video.ref.meanJitter, 0, 'tshark: no jitter for PT 96 without a clock rate');
  t.ok(video.ours.mean_jitter_ms! > 0.5, `ours at 90 kHz: ${video.ours.mean_jitter_ms} ms (frames up to 5 ms late)`);
  t.same(video.ours.dscp, { AF41: 300 }, 'the video is marked AF41');
});
