import t from 'tap';
import { execFile } from 'node:child_process';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ADDRESSES, Lab, labUnavailableReason } from '../lab/index.js';
import { CLI } from '../lab/cli-in-lab.js';
import { RtpStreams, type RtpStreamSummary } from '../../src/monitor/rtp/rtp-streams.js';
import type { HelperLine } from '../../src/monitor/rtp/capture-helper.js';

// Passive RTP analysis [issue 6 §4, "done when"]: on a capture made in the lab (jitter, loss,
// EF marks), per-SSRC packets and lost are exactly tshark's, and mean and max jitter within
// 0.01 ms of tshark's `-z rtp,streams`; the live capture helper sees the same figures.

const run = promisify(execFile);
const SENDER = fileURLToPath(new URL('../fixtures/rtp-sender.mjs', import.meta.url));
const unavailable = labUnavailableReason();

interface TsharkStream { ssrc: string; packets: number; lost: number; meanJitter: number; maxJitter: number }

/** Rows of `tshark -z rtp,streams`: … SSRC Payload Pkts Lost (pct) MinΔ MeanΔ MaxΔ MinJ MeanJ MaxJ [Problems] */
function parseTshark(text: string): TsharkStream[] {
  const rows: TsharkStream[] = [];
  for (const line of text.split('\n')) {
    const tokens = line.trim().split(/\s+/);
    const at = tokens.findIndex((x) => /^0x[0-9a-f]{8}$/i.test(x));
    if (at < 0) continue;
    const n = tokens.slice(at + 2).filter((x) => !/^\(.*%\)$/.test(x) && x !== 'X').map(Number);
    rows.push({ ssrc: tokens[at]!.toLowerCase(), packets: n[0]!, lost: n[1]!, meanJitter: n[6]!, maxJitter: n[7]! });
  }
  return rows;
}

t.test('RTP streams through a jittery, lossy lab link: our analysis equals tshark on the same capture', unavailable ? { skip: unavailable } : {}, async (t) => {
  const lab = await Lab.create({ down: { delayMs: 10, jitterMs: 4, lossPct: 2 } });
  t.teardown(() => lab.destroy());
  const pcap = join(t.testdir(), 'call.pcap');
  // the hospital's video client marks its audio EF; the second stream stays unmarked
  await lab.exec('hospital', ['nft', '-f', '-'], { input: 'table ip rtp_mark {\n chain out {\n type filter hook output priority 0;\n udp dport 5004 ip dscp set ef\n }\n}\n' });
  const filter = 'udp portrange 5004-5007';
  const tcpdump = lab.spawn('usmp', ['tcpdump', '-i', 'eth0', '-U', '-n', '-w', pcap, filter]);
  const helper = lab.spawn('usmp', [process.execPath, CLI, 'capture-helper', '--iface', 'eth0', '--filter', filter]);
  const live = new RtpStreams();
  let liveReady!: () => void;
  const helperReady = new Promise<void>((resolve) => (liveReady = resolve));
  createInterface({ input: helper.stdout! }).on('line', (line) => {
    const parsed = JSON.parse(line) as HelperLine;
    if ('ready' in parsed) liveReady();
    if ('rtp' in parsed) live.add(parsed.rtp);
  });
  const tcpdumpReady = new Promise<void>((resolve) => createInterface({ input: tcpdump.stderr! }).on('line', (l) => l.includes('listening on') && resolve()));
  await Promise.all([helperReady, tcpdumpReady]);

  const [a, b] = await Promise.all([
    lab.exec('hospital', [process.execPath, SENDER, ADDRESSES.usmp, '5004', String(0x1111), '0', '300', '10', '80']),
    lab.exec('hospital', [process.execPath, SENDER, ADDRESSES.usmp, '5006', String(0x2222), '8', '150', '20', '160']),
  ]);
  t.match(a.stdout, /"sent":300/);
  t.match(b.stdout, /"sent":150/);
  await new Promise((r) => setTimeout(r, 600)); // the last packets cross the 10 ms + jitter link
  const dropped = (await lab.impairmentCounters())['loss-down'] ?? 0;
  const exited = (p: typeof tcpdump) => new Promise((r) => (p.exitCode !== null ? r(p.exitCode) : p.once('exit', r)));
  tcpdump.kill('SIGINT');
  helper.kill('SIGTERM');
  await Promise.all([exited(tcpdump), exited(helper)]);

  const ours = JSON.parse((await run(process.execPath, [CLI, 'rtp', 'analyze', pcap, '--json'])).stdout) as { streams: RtpStreamSummary[] };
  const tshark = parseTshark((await run('tshark', ['-r', pcap, '-q', '-d', 'udp.port==5004,rtp', '-d', 'udp.port==5006,rtp', '-z', 'rtp,streams'])).stdout);
  t.equal(tshark.length, 2, 'tshark sees two streams');
  t.equal(ours.streams.length, 2, 'we see two streams');
  const total = ours.streams.reduce((sum, s) => sum + s.packets, 0);
  t.equal(total, 450 - dropped, `every packet the lab did not drop (${dropped}) was captured and counted`);
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
  t.same(ours.streams.find((s) => s.ssrc === '0x00001111')!.dscp, { EF: ours.streams.find((s) => s.ssrc === '0x00001111')!.packets }, 'the EF-marked stream arrives EF');
  t.same(Object.keys(ours.streams.find((s) => s.ssrc === '0x00002222')!.dscp), ['CS0']);
});

t.test('rtp analyze: a file that is not a capture is refused with its code', async (t) => {
  const dir = t.testdir({ 'notes.txt': 'not a pcap' });
  const result = await run(process.execPath, [CLI, 'rtp', 'analyze', join(dir, 'notes.txt')]).catch((e: { code: number; stderr: string }) => e);
  t.equal((result as { code: number }).code, 2);
  t.match((result as { stderr: string }).stderr, /USMP_E_CAPTURE_FILE/);
});
