import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ADDRESSES, Lab, labUnavailableReason, measureTcpGoodput } from '../test/lab/index.js';
import { cliIn, startResponder } from '../test/lab/cli-in-lab.js';
import { binomialCountInterval, percentile, Z } from '../src/measure/statistics.js';
import type { Benchmark, BenchRow } from './harness.js';
import { TCP_SHARE_OF_HTB_RATE } from '../src/lab/shaping.js';

// `usmp-edge qualify` next to the reference tools on the same lab links in the same run:
// plain iperf3 (10 s after 2 s omitted, as qualify runs it) and irtt.

const round = (x: number, d = 3): number => Number(x.toFixed(d));

interface Report {
  duration_s: number;
  measurements: { up_mbps: number; down_mbps: number; loaded_rtt_increase_ms: number };
}

const bench: Benchmark = {
  name: 'qualification',
  title: 'Link qualification against plain iperf3 and irtt (lab links)',
  unavailable: labUnavailableReason,
  async run(log) {
    const rows: BenchRow[] = [];
    const out = mkdtempSync(join(tmpdir(), 'usmp-bench-'));
    try {
      for (const [up, down] of [
        [8, 40],
        [20, 20],
        [100, 100],
      ] as const) {
        const lab = await Lab.create({ up: { rateMbit: up }, down: { rateMbit: down } });
        try {
          await startResponder(lab);
          const started = Date.now();
          const run = await cliIn(lab, 'appliance', [
            'qualify',
            '--target',
            ADDRESSES.hospital,
            '--iperf-pool',
            '2',
            '--plan',
            'quick',
            '--out',
            join(out, `${up}-${down}`),
            '--json',
          ]);
          const wall = (Date.now() - started) / 1000;
          const report = JSON.parse(run.stdout) as Report;
          for (const [direction, rate] of [
            ['up', up],
            ['down', down],
          ] as const) {
            const plain = await measureTcpGoodput(lab, direction, 10, 5202);
            const achievable = rate * TCP_SHARE_OF_HTB_RATE;
            const ours = report.measurements[`${direction}_mbps`];
            log(`${up}/${down} ${direction}: qualify ${ours} plain ${plain.mbps.toFixed(3)} achievable ${achievable.toFixed(3)}`);
            rows.push({
              group: 'Throughput through htb (Mbit/s); ratio = measured / (rate × 1448/1514)',
              case: `${up}/${down} Mbit/s, ${direction}`,
              tool: 'qualify vs iperf3 -t 10 -O 2',
              figures: {
                achievable: round(achievable),
                qualify: ours,
                qualify_ratio: round(ours / achievable, 4),
                iperf3: round(plain.mbps),
                iperf3_ratio: round(plain.mbps / achievable, 4),
              },
            });
          }
          rows.push({
            group: 'Quick plan wall time',
            case: `${up}/${down} Mbit/s`,
            tool: 'qualify --plan quick',
            figures: { wall_s: round(wall, 1), limit_s: 90 },
          });
        } finally {
          await lab.destroy();
        }
      }

      const lab = await Lab.create({ up: { delayMs: 25, jitterMs: 5 }, down: { delayMs: 25, jitterMs: 5 } });
      try {
        await startResponder(lab);
        lab.spawn('hospital', ['irtt', 'server', '-b', `${ADDRESSES.hospital}:2112`, '-i', '0']);
        await new Promise((r) => setTimeout(r, 300));
        const ours = JSON.parse(
          (await cliIn(lab, 'appliance', ['probe', 'latency', '--target', ADDRESSES.hospital, '--count', '3000', '--interval-ms', '20', '--json'])).stdout,
        ) as {
          rtt_ms: { median: number; mean: number; p99: number };
          ipdv_ms: { mean: number };
        };
        const irtt = JSON.parse(
          (
            await lab.exec('appliance', ['irtt', 'client', '-i', '20ms', '-d', '60s', '-l', '44', '-Q', '-o', '-', `${ADDRESSES.hospital}:2112`], {
              timeoutMs: 120_000,
            })
          ).stdout,
        ) as {
          stats: { rtt: { median: number; mean: number }; ipdv_round_trip: { mean: number } };
          round_trips: Array<{ delay?: { rtt?: number } }>;
        };
        const irttRtts = irtt.round_trips
          .map((r) => r.delay?.rtt)
          .filter((x): x is number => typeof x === 'number')
          .map((x) => x / 1e6);
        const group = 'Latency, 25 ± 5 ms each way, 20 ms interval, 44-octet probes (ms)';
        rows.push({
          group,
          case: 'usmp-edge probe latency (STAMP), 3000 probes',
          tool: 'usmp-edge',
          figures: { mean: ours.rtt_ms.mean, median: ours.rtt_ms.median, p99: ours.rtt_ms.p99, mean_abs_ipdv: ours.ipdv_ms.mean },
        });
        rows.push({
          group,
          case: 'irtt client, 60 s',
          tool: 'irtt 0.9.0',
          figures: {
            mean: round(irtt.stats.rtt.mean / 1e6),
            median: round(irtt.stats.rtt.median / 1e6),
            p99: round(percentile(irttRtts, 0.99)),
            mean_abs_ipdv: round(irtt.stats.ipdv_round_trip.mean / 1e6),
          },
        });
        rows.push({
          group,
          case: 'difference (ours − irtt)',
          tool: '',
          figures: {
            mean: round(ours.rtt_ms.mean - irtt.stats.rtt.mean / 1e6),
            median: round(ours.rtt_ms.median - irtt.stats.rtt.median / 1e6),
            p99: round(ours.rtt_ms.p99 - percentile(irttRtts, 0.99)),
            mean_abs_ipdv: round(ours.ipdv_ms.mean - irtt.stats.ipdv_round_trip.mean / 1e6),
          },
        });
      } finally {
        await lab.destroy();
      }

      const lossy = await Lab.create({ up: { lossPct: 1 } });
      try {
        await startResponder(lossy);
        const s = JSON.parse(
          (await cliIn(lossy, 'appliance', ['probe', 'latency', '--target', ADDRESSES.hospital, '--count', '5000', '--interval-ms', '2', '--json'])).stdout,
        ) as { sent: number; received: number; loss_pct: number };
        const dropped = (await lossy.impairmentCounters())['loss-up'] ?? 0;
        const ci = binomialCountInterval(s.sent, 0.01, Z[0.95]);
        rows.push({
          group: 'Loss, 1 % injected upstream (nftables numgen)',
          case: '5000 probes',
          tool: 'usmp-edge probe latency',
          figures: {
            lost: s.sent - s.received,
            dropped_by_lab: dropped,
            binomial_95_low: ci.low,
            binomial_95_high: ci.high,
            within_95: String(s.sent - s.received >= ci.low && s.sent - s.received <= ci.high),
          },
        });
      } finally {
        await lossy.destroy();
      }
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
    return {
      rows,
      notes: [
        'Links shaped by htb with the lab default queue (100 ms of the rate); qualify runs TCP 10 s after 2 s omitted, receiver side.',
        'irtt and our sender run one after the other on the same emulated path; the emulator draws jitter from a uniform distribution.',
      ],
    };
  },
};

export default bench;
