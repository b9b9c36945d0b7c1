import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DurableOutbox } from '../src/bridge/outbox/outbox.js';
import type { Benchmark, BenchRow } from './harness.js';

// The durable outbox alone, on this machine's disk: appends that resolve only after
// fdatasync, one producer (a sync per message) against many (group commit), and the memory
// a 1 M-message backlog costs. Targets: ≥ 10 000 msg/s; a 1 M backlog in ≤ 150 MiB RSS.

const PAYLOAD = Buffer.alloc(256, 0x61);

async function produce(box: DurableOutbox, producers: number, perProducer: number): Promise<number> {
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: producers }, async (_, p) => {
      for (let i = 0; i < perProducer; i++) await box.append(`usmp/dev${p}/ecg`, PAYLOAD);
    }),
  );
  return (producers * perProducer) / (Number(process.hrtime.bigint() - started) / 1e9);
}

const bench: Benchmark = {
  name: 'outbox',
  title: 'Durable outbox: appends acknowledged after fdatasync, and a 1 M-message backlog',
  async run(log) {
    const rows: BenchRow[] = [];
    const dir = mkdtempSync(join(tmpdir(), 'usmp-outbox-bench-'));
    try {
      for (const [producers, per] of [
        [1, 3000],
        [8, 5000],
        [64, 3000],
      ] as const) {
        const box = await DurableOutbox.open({ dir: join(dir, `p${producers}`), maxMessages: 2_000_000, maxBytes: 4 * 1024 ** 3 });
        const rate = await produce(box, producers, per);
        await box.close();
        log(`${producers} producers: ${rate.toFixed(0)} msg/s`);
        rows.push({
          group: 'Durable appends, 256-octet payloads (each resolves after fdatasync)',
          case: `${producers} concurrent producer(s)`,
          tool: 'DurableOutbox.append',
          figures: { messages: producers * per, msg_per_s: Math.round(rate) },
        });
      }
      global.gc?.();
      const before = process.memoryUsage().rss;
      const box = await DurableOutbox.open({ dir: join(dir, 'backlog'), maxMessages: 2_000_000, maxBytes: 4 * 1024 ** 3 });
      const rate = await produce(box, 200, 5000);
      global.gc?.();
      const rss = process.memoryUsage().rss;
      const readStarted = process.hrtime.bigint();
      let read = 0;
      for (let from = 0; read < 1_000_000;) {
        const batch = await box.read(from, 5000);
        if (batch.length === 0) break;
        read += batch.length;
        from = batch.at(-1)!.seq + 1;
      }
      const readRate = read / (Number(process.hrtime.bigint() - readStarted) / 1e9);
      await box.close();
      log(`1 M backlog: ${rate.toFixed(0)} msg/s in, RSS ${(rss / 2 ** 20).toFixed(1)} MiB, read ${readRate.toFixed(0)} msg/s`);
      rows.push({
        group: '1 M-message backlog (200 producers × 5 000)',
        case: '1 000 000 × 256 octets',
        tool: 'DurableOutbox',
        figures: {
          append_msg_per_s: Math.round(rate),
          rss_mib: Number((rss / 2 ** 20).toFixed(1)),
          rss_before_mib: Number((before / 2 ** 20).toFixed(1)),
          read_msg_per_s: Math.round(readRate),
          depth: read,
        },
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    return {
      rows,
      notes: [
        'Single process; RSS is the whole benchmark process (Node itself ≈ 50 MiB) after the backlog was written.',
        "Disk: this VM's virtio disk; an appliance's eMMC syncs slower, which group commit absorbs.",
      ],
    };
  },
};

export default bench;
