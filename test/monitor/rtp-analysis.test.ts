import t from 'tap';
import { execFile } from 'node:child_process';
import { createInterface } from 'node:readline';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ADDRESSES, Lab, labUnavailableReason } from '../lab/index.js';
import { CLI } from '../lab/cli-in-lab.js';
import { RtpStreams, type RtpStreamSummary } from '../../src/monitor/rtp/rtp-streams.js';
import type { HelperLine } from '../../src/monitor/rtp/capture-helper.js';
import { exitOf, until, within } from '../fixtures/bounded.js';
import { countPcapRecords } from '../fixtures/pcap-udp.js';
import { parseTsharkRtpStreams } from '../fixtures/tshark-rtp.js';

// Passive RTP analysis: on a capture made in the lab (jitter, loss,
// EF marks), per-SSRC packets and lost are exactly tshark's, and mean and max jitter within
// 0.01 ms of tshark's `-z rtp,streams`; the live capture helper sees the same figures.

const run = promisify(execFile);
const SENDER = fileURLToPath(new URL('../fixtures/rtp-sender.mjs', import.meta.url));
const unavailable = labUnavailableReason();

interface CapturedCall {
  pcap: string;
  live: RtpStreams;
  /** What reached the USMP host's interface, counted by nftables there: the ground truth. */
  arrived: number;
  droppedByLab: number;
  /** Packets the captures themselves lost: tcpdump's "dropped by kernel", libpcap's ps_drop in the helper. */
  captureDrops: { tcpdump: number; helper: number };
}

const COUNT_TABLE =
  'table ip rtp_count {\n counter arrived {}\n chain in {\n type filter hook prerouting priority -300;\n udp dport 5004-5007 counter name arrived\n }\n}\n';

/** Two RTP streams from the hospital to the USMP host, captured by tcpdump (file) and by the capture helper (live). */
async function captureCall(lab: Lab, pcap: string): Promise<CapturedCall> {
  await lab.exec('usmp', ['nft', '-f', '-'], { input: COUNT_TABLE });
  const arrivedSoFar = async () =>
    (
      JSON.parse((await lab.exec('usmp', ['nft', '-j', 'list', 'counter', 'ip', 'rtp_count', 'arrived'])).stdout) as {
        nftables: Array<{ counter?: { packets: number } }>;
      }
    ).nftables.find((x) => x.counter)!.counter!.packets;
  const filter = 'udp portrange 5004-5007';
  // immediate mode: each packet is handed to tcpdump as it comes, not in blocks a timer retires
  const tcpdump = lab.spawn('usmp', ['tcpdump', '-i', 'eth0', '--immediate-mode', '-U', '-n', '-w', pcap, filter]);
  const helper = lab.spawn('usmp', [process.execPath, CLI, 'capture-helper', '--iface', 'eth0', '--filter', filter]);
  const live = new RtpStreams();
  let livePackets = 0;
  let helperStats = { received: 0, dropped: 0 };
  let liveReady!: () => void;
  const helperReady = new Promise<void>((resolve) => (liveReady = resolve));
  createInterface({ input: helper.stdout! }).on('line', (line) => {
    const parsed = JSON.parse(line) as HelperLine;
    if ('ready' in parsed) liveReady();
    if ('stats' in parsed) helperStats = parsed.stats;
    if ('rtp' in parsed) {
      live.add(parsed.rtp);
      livePackets++;
    }
  });
  let tcpdumpErr = '';
  tcpdump.stderr!.on('data', (d: Buffer) => (tcpdumpErr += d.toString()));
  await within(
    'tcpdump and the capture helper to listen',
    20_000,
    Promise.all([helperReady, until('tcpdump to listen', 20_000, () => tcpdumpErr.includes('listening on'))]),
  );

  const [a, b] = await Promise.all([
    lab.exec('hospital', [process.execPath, SENDER, ADDRESSES.usmp, '5004', String(0x1111), '0', '300', '10', '80']),
    lab.exec('hospital', [process.execPath, SENDER, ADDRESSES.usmp, '5006', String(0x2222), '8', '150', '20', '160']),
  ]);
  if (!a.stdout.includes('"sent":300') || !b.stdout.includes('"sent":150')) throw new Error(`the senders did not send everything: ${a.stdout} ${b.stdout}`);
  // Ground truth first: every packet the lab let through has reached the USMP host's interface
  // (the emulator may hold some a while on a busy machine); then both captures have them.
  const droppedByLab = (await lab.impairmentCounters())['loss-down'] ?? 0;
  let arrived = 0;
  await until(
    `the ${450 - droppedByLab} packets the lab let through at the USMP host`,
    20_000,
    async () => (arrived = await arrivedSoFar()) >= 450 - droppedByLab,
    { describe: () => `${arrived} arrived` },
  );
  await until(`the capture helper to see the ${arrived} packets`, 10_000, () => livePackets >= arrived, { describe: () => `${livePackets} seen` }).catch(
    () => undefined,
  );
  await until(`the capture file to hold the ${arrived} packets`, 10_000, () => countPcapRecords(pcap) >= arrived).catch(() => undefined);
  tcpdump.kill('SIGINT');
  helper.kill('SIGTERM');
  await Promise.all([exitOf(tcpdump, 'tcpdump after SIGINT'), exitOf(helper, 'the capture helper after SIGTERM')]);
  const tcpdumpDropped = Number(/(\d+) packets? dropped by kernel/.exec(tcpdumpErr)?.[1] ?? NaN);
  return { pcap, live, arrived, droppedByLab, captureDrops: { tcpdump: tcpdumpDropped, helper: helperStats.dropped } };
}

const ATTEMPTS = 3;

/**
 * The call, made through a jittery, lossy lab link. A capture that lost packets is no
 * reference: the call is made again, and after ATTEMPTS such captures the comparison is
 * reported as not measurable (the test is skipped with that reason), neither passed nor failed.
 */
async function measuredCall(dir: string): Promise<{ call?: CapturedCall; lossy: string[] }> {
  // FIFO: a busy sender may send two packets closer than the jitter, which the emulator could
  // then swap; this test compares jitter and loss, not the handling of reordered packets (a CI
  // run under load once gave a mean jitter 0.034 ms off tshark's with counts equal)
  const lab = await Lab.create({ down: { delayMs: 10, jitterMs: 4, lossPct: 2, reorder: false } });
  try {
    // the hospital's video client marks its audio EF; the second stream stays unmarked
    await lab.exec('hospital', ['nft', '-f', '-'], {
      input: 'table ip rtp_mark {\n chain out {\n type filter hook output priority 0;\n udp dport 5004 ip dscp set ef\n }\n}\n',
    });
    const lossy: string[] = [];
    for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
      await lab.exec('usmp', ['nft', 'delete', 'table', 'ip', 'rtp_count']).catch(() => undefined);
      const made = await captureCall(lab, join(dir, `call-${attempt}.pcap`));
      if (made.captureDrops.tcpdump === 0 && made.captureDrops.helper === 0) return { call: made, lossy };
      lossy.push(`attempt ${attempt}: tcpdump dropped ${made.captureDrops.tcpdump}, the helper ${made.captureDrops.helper}`);
    }
    return { lossy };
  } finally {
    await lab.destroy();
  }
}

const workDir = mkdtempSync(join(tmpdir(), 'usmp-rtp-'));
t.teardown(() => rmSync(workDir, { recursive: true, force: true }));
const measured = unavailable ? undefined : await measuredCall(workDir);
const notMeasurable =
  measured && !measured.call ? `not measurable: the captures themselves dropped packets in ${ATTEMPTS} attempts (${measured.lossy.join('; ')})` : undefined;

t.test(
  'RTP streams through a jittery, lossy lab link: our analysis equals tshark on the same capture',
  { skip: unavailable ?? notMeasurable ?? false },
  async (t) => {
    if (measured!.lossy.length > 0) t.comment(`redone after captures that dropped packets: ${measured!.lossy.join('; ')}`);
    const { pcap, live, arrived, droppedByLab: dropped } = measured!.call!;
    t.equal(arrived, 450 - dropped, `what reached the USMP host (${arrived}) is what the lab did not drop (${dropped})`);

    const ours = JSON.parse((await run(process.execPath, [CLI, 'rtp', 'analyze', pcap, '--json'])).stdout) as { streams: RtpStreamSummary[] };
    const tshark = parseTsharkRtpStreams(
      (await run('tshark', ['-r', pcap, '-q', '-d', 'udp.port==5004,rtp', '-d', 'udp.port==5006,rtp', '-z', 'rtp,streams'])).stdout,
    );
    t.equal(tshark.length, 2, 'tshark sees two streams');
    t.equal(ours.streams.length, 2, 'we see two streams');
    const total = ours.streams.reduce((sum, s) => sum + s.packets, 0);
    t.equal(total, arrived, `every packet that reached the USMP host (${arrived}) was captured and counted`);
    for (const ts of tshark) {
      const s = ours.streams.find((x) => x.ssrc === ts.ssrc);
      if (!s) {
        t.fail(`stream ${ts.ssrc} missing`);
        continue;
      }
      t.equal(s.packets, ts.packets, `${ts.ssrc}: packets ${s.packets} = tshark`);
      t.equal(s.lost, ts.lost, `${ts.ssrc}: lost ${s.lost} = tshark`);
      t.ok(Math.abs(s.mean_jitter_ms! - ts.meanJitter) <= 0.01, `${ts.ssrc}: mean jitter ${s.mean_jitter_ms} vs tshark ${ts.meanJitter} ms`);
      t.ok(Math.abs(s.max_jitter_ms! - ts.maxJitter) <= 0.01, `${ts.ssrc}: max jitter ${s.max_jitter_ms} vs tshark ${ts.maxJitter} ms`);
      t.ok(s.mean_jitter_ms! > 0.5, 'the lab jitter is visible');
      const seen = live.summaries().find((x) => x.ssrc === ts.ssrc);
      t.same(seen && { packets: seen.packets, lost: seen.lost }, { packets: s.packets, lost: s.lost }, `${ts.ssrc}: the live capture helper counted the same`);
      t.ok(seen && Math.abs(seen.mean_jitter_ms! - s.mean_jitter_ms!) <= 0.01, `${ts.ssrc}: live mean jitter ${seen?.mean_jitter_ms} ms`);
    }
    t.same(
      ours.streams.find((s) => s.ssrc === '0x00001111')!.dscp,
      { EF: ours.streams.find((s) => s.ssrc === '0x00001111')!.packets },
      'the EF-marked stream arrives EF',
    );
    t.same(Object.keys(ours.streams.find((s) => s.ssrc === '0x00002222')!.dscp), ['CS0']);
  },
);

t.test('rtp analyze: a file that is not a capture is refused with its code', async (t) => {
  const dir = t.testdir({ 'notes.txt': 'not a pcap' });
  const result = await run(process.execPath, [CLI, 'rtp', 'analyze', join(dir, 'notes.txt')]).catch((e: { code: number; stderr: string }) => e);
  t.equal((result as { code: number }).code, 2);
  t.match((result as { stderr: string }).stderr, /USMP_E_CAPTURE_FILE/);
});
