import { Lab, labUnavailableReason, measurePing, measureTcpGoodput, measureUdp, startIperfServer } from '../test/lab/index.js';
import type { Benchmark, BenchRow } from './harness.js';
import { TCP_SHARE_OF_HTB_RATE } from '../src/lab/shaping.js';

// The lab's own figures: how exactly it shapes, how much the delay emulator can carry, and
// the delay it adds by itself. Every figure comes from plain iperf3 or ping.

const round = (x: number, digits = 3): number => Number(x.toFixed(digits));

const bench: Benchmark = {
  name: 'lab-accuracy',
  title: 'Test lab: shaping accuracy, delay emulator ceiling and floor',
  unavailable: labUnavailableReason,
  async run(log) {
    const rows: BenchRow[] = [];
    const lab = await Lab.create();
    try {
      await startIperfServer(lab);
      for (const rate of [8, 20, 40, 100, 500]) {
        await lab.setLinks({ up: { rateMbit: rate }, down: { rateMbit: rate } });
        for (const direction of ['up', 'down'] as const) {
          const { mbps, retransmits } = await measureTcpGoodput(lab, direction, 8);
          const expected = rate * TCP_SHARE_OF_HTB_RATE;
          log(`htb ${rate} ${direction}: ${mbps.toFixed(2)} Mbit/s`);
          rows.push({
            group: 'Shaping accuracy (htb)',
            case: `htb ${rate} Mbit/s ${direction}`,
            tool: 'iperf3 TCP 8 s',
            figures: { expected_mbps: round(expected, 2), measured_mbps: round(mbps, 2), ratio: round(mbps / expected, 4), retransmits },
          });
        }
      }

      await lab.setLinks({ up: {}, down: {} });
      const base = await measurePing(lab, 2000, 0.002);
      await lab.setLinks({ up: { delayMs: 0.001 }, down: { delayMs: 0.001 } });
      const floor = await measurePing(lab, 2000, 0.002);
      const lateness = await lab.emulatorStats('up');
      rows.push({
        group: 'Delay emulator: floor and accuracy',
        case: 'no emulator',
        tool: 'ping 2000 × 2 ms',
        figures: { rtt_mean_ms: base.rttMs.mean, rtt_max_ms: base.rttMs.max },
      });
      rows.push({
        group: 'Delay emulator: floor and accuracy',
        case: 'emulator at 0 ms, both ways',
        tool: 'ping 2000 × 2 ms',
        figures: {
          rtt_mean_ms: floor.rttMs.mean,
          rtt_max_ms: floor.rttMs.max,
          floor_per_direction_ms: round((floor.rttMs.mean - base.rttMs.mean) / 2),
          lateness_mean_us: lateness?.lateness_mean_us ?? NaN,
          lateness_max_us: lateness?.lateness_max_us ?? NaN,
        },
      });

      await lab.setLinks({ up: { delayMs: 25, jitterMs: 5 }, down: { delayMs: 25, jitterMs: 5 } });
      const delayed = await measurePing(lab, 2000, 0.002);
      rows.push({
        group: 'Delay emulator: floor and accuracy',
        case: 'emulator 25 ± 5 ms each way (uniform)',
        tool: 'ping 2000 × 2 ms',
        figures: {
          rtt_mean_ms: delayed.rttMs.mean,
          configured_ms: 50,
          error_ms: round(delayed.rttMs.mean - 50),
          rtt_min_ms: delayed.rttMs.min,
          rtt_max_ms: delayed.rttMs.max,
        },
      });

      await lab.setLinks({ up: { delayMs: 1 }, down: {} });
      for (const offered of [100, 200, 400, 800]) {
        const udp = await measureUdp(lab, 'up', offered, 5);
        const stats = await lab.emulatorStats('up');
        log(`emulator UDP ${offered}: ${udp.receivedMbps.toFixed(1)} Mbit/s, loss ${udp.lossPct.toFixed(3)} %`);
        rows.push({
          group: 'Delay emulator: ceiling',
          case: `emulator 1 ms, UDP 1500-byte packets at ${offered} Mbit/s`,
          tool: 'iperf3 -u -l 1472 5 s',
          figures: { received_mbps: round(udp.receivedMbps, 1), loss_pct: round(udp.lossPct, 3), emulator_overflow: stats?.dropped_overflow ?? NaN },
        });
      }
      const tcp = await measureTcpGoodput(lab, 'up', 8);
      rows.push({
        group: 'Delay emulator: ceiling',
        case: 'emulator 1 ms, TCP',
        tool: 'iperf3 TCP 8 s',
        figures: { measured_mbps: round(tcp.mbps, 1), retransmits: tcp.retransmits },
      });
    } finally {
      await lab.destroy();
    }
    return {
      rows,
      notes: [
        'expected_mbps = htb rate × 1448/1514: htb charges the Ethernet header (14 B) but not FCS, preamble or gap; TCP MSS is 1448 with timestamps.',
        'The emulator is a C program over a TUN device (src/lab/delay-emulator.c); floor_per_direction_ms is what it adds with no delay configured.',
        'UDP rows give the emulator ceiling: the highest rate of 1500-byte packets carried with no loss.',
      ],
    };
  },
};

export default bench;
