import t, { type Test } from 'tap';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ADDRESSES, Lab, labUnavailableReason, type LinkImpairment } from '../lab/index.js';
import { Appliance, CLI } from '../bridge/fixtures.js';
import { exitOf, until } from '../fixtures/bounded.js';
import { networkGrade, rateAudio, worstGrade, type Grade } from '../../src/monitor/calls/call-quality.js';
import type { CallRecord } from '../../src/monitor/calls/call-tracker.js';
import type { HealthReport } from '../../src/daemon/health.js';
import type { RtpStreamSummary } from '../../src/monitor/rtp/rtp-streams.js';
import { parseTsharkRtpStreams, type TsharkStream } from '../fixtures/tshark-rtp.js';

// Calls through the lab, seen by the daemon's capture on the appliance's LAN port: three calls
// of different lengths and a short one make three calls and one attempt, each as long as its
// senders sent (their own clocks). tcpdump captures the same port: on that file our analysis
// gives each stream's packets, loss and jitter as tshark does, the daemon's live figures are the
// same (jitter within what two sockets' timestamps allow), and each call is graded as the
// thresholds grade tshark's figures. Once over a clean link, once through 2 % loss and ±30 ms jitter each way. The
// lengths are scaled down with the minimum (8 s here, 60 s by default) so the test stays short.

const run = promisify(execFile);
const SENDER = fileURLToPath(new URL('../fixtures/rtp-sender.mjs', import.meta.url));
const unavailable = labUnavailableReason();
const MIN_CALL_S = 8;
const IDLE_S = 3;

/** Three calls and an attempt, each with its own far end at the hospital; call 2 has video too. */
const CALLS = [
  { far: '198.19.1.11', port: 5004, seconds: 10, video: false },
  { far: '198.19.1.12', port: 5006, seconds: 13, video: true },
  { far: '198.19.1.13', port: 5008, seconds: 16, video: false },
  { far: '198.19.1.14', port: 5010, seconds: 4, video: false },
] as const;
const VIDEO_PORT_OFFSET = 100; // video on port + 100
const FILTER = 'udp portrange 5004-5011 or udp portrange 5104-5111';

interface Scenario {
  /** What the daemon logged, live. */
  calls: CallRecord[];
  /** `usmp-edge rtp analyze` on tcpdump's capture of the same port: the same capture as tshark's. */
  fromFile: CallRecord[];
  health: HealthReport;
  metrics: string;
  tshark: TsharkStream[];
  /** Per call: the earliest first and latest last packet its senders sent, ms. */
  sent: Array<{ firstMs: number; lastMs: number }>;
  captureDrops: { tcpdump: number; helper: number };
}

async function inAppliance(lab: Lab, url: string): Promise<string> {
  const script = 'fetch(process.argv[1]).then((r) => r.text()).then((b) => process.stdout.write(b), (e) => { console.error(e.message); process.exit(1); })';
  return (await lab.exec('appliance', [process.execPath, '-e', script, url], { timeoutMs: 15_000 })).stdout;
}

async function scenario(link: LinkImpairment): Promise<Scenario> {
  const dir = mkdtempSync(join(tmpdir(), 'usmp-calls-'));
  const lab = await Lab.create({ up: link, down: link });
  const appliance = await Appliance.create(undefined, [], {
    // no station network configured: the stations are found on the capture interface's network
    sections: { capture: { interface: 'lan0', filter: FILTER, idle_s: IDLE_S, min_call_s: MIN_CALL_S } },
  });
  try {
    for (const c of CALLS) await lab.exec('hospital', ['ip', 'address', 'add', `${c.far}/24`, 'dev', 'eth0']);
    await appliance.start((argv) => ['ip', 'netns', 'exec', lab.ns('appliance'), ...argv]);
    const base = `http://127.0.0.1:${appliance.metricsPort}`;
    const health = async () => JSON.parse(await inAppliance(lab, `${base}/health`)) as HealthReport;
    await until('the capture helper to be ready', 20_000, async () => (await health()).parts['capture']?.status === 'running', { everyMs: 250 });
    const pcap = join(dir, `calls-${link.lossPct ?? 0}.pcap`);
    const tcpdump = lab.spawn('appliance', ['tcpdump', '-i', 'lan0', '--immediate-mode', '-U', '-n', '-w', pcap, FILTER]);
    let tcpdumpErr = '';
    tcpdump.stderr!.on('data', (d: Buffer) => (tcpdumpErr += d.toString()));
    await until('tcpdump to listen', 20_000, () => tcpdumpErr.includes('listening on'), { describe: () => `tcpdump said: ${tcpdumpErr.trim() || 'nothing'}` });

    // both ends send at once: the station from the USMP host, the far end from its own address
    const sends = CALLS.flatMap((c, i) => {
      const packets = String(c.seconds * 50);
      const audio = [
        lab.exec('usmp', [process.execPath, SENDER, c.far, String(c.port), String(0x1000 + i), '0', packets, '20', '160', ADDRESSES.usmp, String(c.port)], {
          timeoutMs: 60_000,
        }),
        lab.exec('hospital', [process.execPath, SENDER, ADDRESSES.usmp, String(c.port), String(0x2000 + i), '8', packets, '20', '160', c.far, String(c.port)], {
          timeoutMs: 60_000,
        }),
      ];
      const video = c.video
        ? [
            lab.exec(
              'hospital',
              [
                process.execPath,
                SENDER,
                ADDRESSES.usmp,
                String(c.port + VIDEO_PORT_OFFSET),
                String(0x3000 + i),
                '34',
                String(c.seconds * 30),
                '33.333',
                '3000',
                c.far,
                String(c.port + VIDEO_PORT_OFFSET),
              ],
              { timeoutMs: 60_000 },
            ),
          ]
        : [];
      return [...audio, ...video].map(async (p) => ({ call: i, ...(JSON.parse((await p).stdout) as { first_ms: number; last_ms: number }) }));
    });
    const sentBy = await Promise.all(sends);
    const sent = CALLS.map((_, i) => {
      const mine = sentBy.filter((s) => s.call === i);
      return { firstMs: Math.min(...mine.map((s) => s.first_ms)), lastMs: Math.max(...mine.map((s) => s.last_ms)) };
    });
    await until('the daemon to end the four calls', (IDLE_S + 20) * 1000, () => appliance.events('call.ended').length >= CALLS.length, {
      everyMs: 250,
      describe: () => `${appliance.events('call.ended').length} ended`,
    });
    tcpdump.kill('SIGINT');
    await exitOf(tcpdump, 'tcpdump after SIGINT');
    const finalHealth = await health();
    const metrics = await inAppliance(lab, `${base}/metrics`);
    const decode = CALLS.flatMap((c) => ['-d', `udp.port==${c.port},rtp`, ...(c.video ? ['-d', `udp.port==${c.port + VIDEO_PORT_OFFSET},rtp`] : [])]);
    const tshark = parseTsharkRtpStreams((await run('tshark', ['-r', pcap, '-q', ...decode, '-z', 'rtp,streams'], { maxBuffer: 1 << 24 })).stdout);
    const captured = finalHealth.parts['capture']?.['captured'] as { dropped: number } | undefined;
    const analysed = await run(
      process.execPath,
      [
        CLI,
        'rtp',
        'analyze',
        pcap,
        '--json',
        '--filter',
        FILTER,
        '--min-call-s',
        String(MIN_CALL_S),
        '--idle-s',
        String(IDLE_S),
        '--station-network',
        '198.18.1.0/24',
      ],
      { maxBuffer: 1 << 24 },
    );
    return {
      calls: appliance.events('call.ended').map((e) => e['call'] as CallRecord),
      fromFile: (JSON.parse(analysed.stdout) as { calls: CallRecord[] }).calls,
      health: finalHealth,
      metrics,
      tshark,
      sent,
      captureDrops: { tcpdump: Number(/(\d+) packets? dropped by kernel/.exec(tcpdumpErr)?.[1] ?? NaN), helper: captured?.dropped ?? NaN },
    };
  } finally {
    await appliance.destroy();
    await lab.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}

const ATTEMPTS = 2;

/** A scenario whose captures lost packets is no reference: it is made again, then reported as not measurable. */
async function measured(link: LinkImpairment): Promise<{ result?: Scenario; lossy: string[] }> {
  const lossy: string[] = [];
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    const result = await scenario(link);
    if (result.captureDrops.tcpdump === 0 && result.captureDrops.helper === 0) return { result, lossy };
    lossy.push(`attempt ${attempt}: tcpdump dropped ${result.captureDrops.tcpdump}, the capture helper ${result.captureDrops.helper}`);
  }
  return { lossy };
}

function judge(t: Test, s: Scenario): void {
  const calls = s.calls.filter((c) => c.kind === 'call');
  const attempts = s.calls.filter((c) => c.kind === 'attempt');
  t.equal(calls.length, 3, 'three calls');
  t.equal(attempts.length, 1, 'one attempt');
  t.match(s.health.calls_today, { calls: 3, attempts: 1 }, "/health counts today's calls");
  const byGrade = (grade: string) => Number(new RegExp(`^usmp_edge_calls_total\\{grade="${grade}"\\} (\\d+)`, 'm').exec(s.metrics)?.[1] ?? 0);
  t.equal(byGrade('good') + byGrade('fair') + byGrade('poor'), 3, '/metrics counts the three calls by grade');
  t.match(s.metrics, /^usmp_edge_call_attempts_total 1$/m, '/metrics counts the attempt');

  for (const [i, c] of CALLS.entries()) {
    const far = `${c.far.split('.').slice(0, 3).join('.')}.0/24`;
    const call = s.calls.find((x) => x.streams.some((st) => st.ssrc === `0x0000${(0x1000 + i).toString(16)}`));
    if (!call) {
      t.fail(`call ${i + 1} not seen`);
      continue;
    }
    t.equal(call.kind, c.seconds >= MIN_CALL_S ? 'call' : 'attempt', `call ${i + 1} (${c.seconds} s) is ${call.kind === 'call' ? 'a call' : 'an attempt'}`);
    t.same([call.station, call.far_network], [ADDRESSES.usmp, far], `call ${i + 1}: the station and the far end's network`);
    t.same(call.media, c.video ? ['audio', 'video'] : ['audio']);
    const sentSeconds = (s.sent[i]!.lastMs - s.sent[i]!.firstMs) / 1000;
    t.ok(Math.abs(call.duration_s - sentSeconds) <= 1, `call ${i + 1}: ${call.duration_s} s seen, ${sentSeconds.toFixed(2)} s sent`);
    const grades: Grade[] = [];
    const fileCall = s.fromFile.find((x) => x.streams.some((st) => st.ssrc === call.streams[0]!.ssrc));
    t.same(
      fileCall && [fileCall.kind, fileCall.station, fileCall.far_network, fileCall.streams.length],
      [call.kind, call.station, call.far_network, call.streams.length],
      `call ${i + 1}: the capture file gives the same call`,
    );
    for (const stream of call.streams) {
      const ts = s.tshark.find((x) => x.ssrc === stream.ssrc);
      const filed = fileCall?.streams.find((x) => x.ssrc === stream.ssrc);
      if (!ts || !filed) {
        t.fail(`stream ${stream.ssrc}: tshark ${ts ? 'has it' : 'has it not'}, the file analysis ${filed ? 'has it' : 'has it not'}`);
        continue;
      }
      // the same capture: our figures are tshark's
      t.same(
        [filed.packets, filed.lost],
        [ts.packets, ts.lost],
        `${stream.ssrc} (${stream.direction} ${stream.media}): packets and lost = tshark's ${ts.packets}, ${ts.lost}`,
      );
      t.ok(
        Math.abs((filed.mean_jitter_ms ?? NaN) - ts.meanJitter) <= 0.01,
        `${stream.ssrc}: mean jitter ${filed.mean_jitter_ms} vs tshark ${ts.meanJitter} ms`,
      );
      // live, the daemon's own capture: the same packets, each stamped by its own socket when the
      // kernel hands it over; on a busy machine the two stamps of one packet drift by up to a few
      // tenths of a millisecond (measured: 1.50 vs 1.37 ms with the other test lane running), far
      // below any grading threshold (30 ms); the exact comparison is the one on the same capture above
      t.same([stream.packets, stream.lost], [filed.packets, filed.lost], `${stream.ssrc}: the daemon counted the same live`);
      const tolerance = Math.max(0.5, 0.05 * ts.meanJitter);
      t.ok(
        Math.abs((stream.mean_jitter_ms ?? NaN) - ts.meanJitter) <= tolerance,
        `${stream.ssrc}: live mean jitter ${stream.mean_jitter_ms} vs ${ts.meanJitter} ms (±${tolerance.toFixed(2)})`,
      );
      const lossPct = ts.packets + ts.lost > 0 ? (100 * ts.lost) / (ts.packets + ts.lost) : 0;
      // tshark does not count loss runs: the burst ratio takes ours
      const reference = {
        ssrc: ts.ssrc,
        payload_type: stream.payload_type,
        packets: ts.packets,
        lost: ts.lost,
        lost_pct: lossPct,
        loss_runs: filed.loss_runs,
        max_loss_burst: filed.max_loss_burst,
        mean_jitter_ms: ts.meanJitter,
      } as RtpStreamSummary;
      const audio = stream.media === 'audio' ? rateAudio(reference, undefined) : undefined;
      grades.push(audio?.grade ?? networkGrade(lossPct, ts.meanJitter));
    }
    t.equal(
      call.grade,
      worstGrade(grades),
      `call ${i + 1} graded ${call.grade}${call.mos !== undefined ? ` (MOS ${call.mos})` : ''}, as the thresholds grade tshark's figures`,
    );
  }
}

for (const [name, link] of [
  ['a clean link', {}],
  ['2 % loss and ±30 ms jitter each way', { delayMs: 40, jitterMs: 30, lossPct: 2, reorder: false }],
] as const) {
  const made = unavailable ? undefined : await measured(link);
  const notMeasurable = made && !made.result ? `not measurable: the captures themselves dropped packets (${made.lossy.join('; ')})` : undefined;
  t.test(
    `three calls and an attempt through ${name}: counted, timed and graded as tshark's figures say`,
    { skip: unavailable ?? notMeasurable ?? false },
    async (t) => {
      if (made!.lossy.length > 0) t.comment(`redone after captures that dropped packets: ${made!.lossy.join('; ')}`);
      judge(t, made!.result!);
      if (link.lossPct)
        t.ok(
          made!.result!.calls.some((c) => c.grade !== 'good'),
          'the impaired link lowers a grade',
        );
    },
  );
}
