import t from 'tap';
import fc from 'fast-check';
import { constants as fsConstants, readdirSync, statSync } from 'node:fs';
import { open as openFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DurableOutbox, type SegmentFile } from '../../src/bridge/outbox/outbox.js';

// The outbox against a plain model, on random sequences of appends (in overlapping waves, so
// batches are grouped and two writes are in flight), failed and short writes, acknowledgements
// (duplicates too) and restarts, with small segments so they roll over and are deleted.
// After every step: the index's invariants hold; the stored seqs are gapless from 0; what the
// outbox reads back is exactly the model's unacknowledged messages, in order, with their
// payloads; a refused append is never read back; and after a restart the segment files on disk
// hold exactly the bytes the outbox counts (nothing deleted that is counted, nothing left over).
// A failure prints fast-check's seed and path; FC_SEED=… FC_PATH=… replays that very case.

type Fault = 'none' | 'reject' | 'short';
type Step =
  | { kind: 'append'; waves: number[]; sizes: number[]; fault: Fault }
  | { kind: 'ack'; pick: number; count: number }
  | { kind: 'duplicate-ack'; pick: number }
  | { kind: 'restart' };

const step: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('append' as const),
      waves: fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 1, maxLength: 3 }),
      sizes: fc.array(fc.integer({ min: 0, max: 300 }), { minLength: 1, maxLength: 6 }),
      fault: fc.constantFrom<Fault>('none', 'none', 'reject', 'short'),
    }),
  },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('ack' as const), pick: fc.nat(), count: fc.integer({ min: 1, max: 8 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('duplicate-ack' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('restart' as const) }) },
);

/** A real O_DSYNC segment file whose next write can be made to fail, or to write only part of what it was given. */
function faultyFiles(): { open: (path: string) => Promise<SegmentFile>; next: Fault } {
  const control = {
    next: 'none' as Fault,
    open: async (path: string): Promise<SegmentFile> => {
      const handle = await openFile(path, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_TRUNC | fsConstants.O_DSYNC, 0o600);
      return {
        writev: async (buffers: Buffer[], position: number) => {
          const fault = control.next;
          control.next = 'none';
          if (fault === 'reject') {
            await new Promise((resolve) => setTimeout(resolve, 5)); // slow, as ENOSPC is: the next batch is in flight behind it
            throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
          }
          if (fault === 'short') {
            const first = buffers[0]!;
            const { bytesWritten } = await handle.writev([first.subarray(0, Math.ceil(first.length / 2))], position);
            return { bytesWritten };
          }
          return handle.writev(buffers, position);
        },
        truncate: (length: number) => handle.truncate(length),
        close: () => handle.close(),
      };
    },
  };
  return control;
}

const segmentBytesOnDisk = (dir: string): number =>
  readdirSync(dir)
    .filter((name) => name.startsWith('seg-'))
    .reduce((sum, name) => sum + statSync(join(dir, name)).size, 0);

let runDir = 0;

t.test('random appends, failed writes, acks and restarts agree with a plain model', async (t) => {
  const root = t.testdir();
  let runs = 0;
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: 600, max: 4096 }), fc.array(step, { minLength: 1, maxLength: 30 }), async (segmentBytes, steps) => {
      runs++;
      const dir = join(root, String(runDir++));
      const files = faultyFiles();
      const open = () => DurableOutbox.open({ dir, maxMessages: 1_000_000, maxBytes: 1024 ** 3, segmentBytes, openSegmentFile: files.open });
      const stored = new Map<number, string>(); // every seq the outbox resolved, with its payload
      const acked = new Set<number>();
      let box = await open();
      let closed = false;
      let made = 0;
      const check = async (when: string): Promise<void> => {
        box.assertInvariants();
        const seqs = [...stored.keys()].sort((a, b) => a - b);
        if (seqs.some((seq, i) => seq !== i)) throw new Error(`${when}: stored seqs are not gapless from 0: ${seqs.join(',')}`);
        const expected = seqs.filter((seq) => !acked.has(seq));
        const back = await box.read(0, 1_000_000);
        const got = back.map((m) => `${m.seq}:${m.payload.toString()}`).join(' ');
        const want = expected.map((seq) => `${seq}:${stored.get(seq)!}`).join(' ');
        if (got !== want) throw new Error(`${when}: read back ${got} where the model has ${want}`);
        if (box.depth !== expected.length) throw new Error(`${when}: depth ${box.depth} where the model has ${expected.length}`);
      };
      try {
        for (const s of steps) {
          if (s.kind === 'append') {
            files.next = s.fault;
            const pending: Array<{ payload: string; outcome: Promise<PromiseSettledResult<number>> }> = [];
            for (const size of s.waves) {
              for (let i = 0; i < size; i++) {
                const payload = `m${made++}:`.padEnd(s.sizes[i % s.sizes.length]!, 'x');
                const outcome = box.append('usmp/dev/m', Buffer.from(payload)).then(
                  (value) => ({ status: 'fulfilled' as const, value }),
                  (reason: unknown) => ({ status: 'rejected' as const, reason }),
                );
                pending.push({ payload, outcome });
              }
              await new Promise(setImmediate); // the next wave finds this one's write in flight
            }
            for (const { payload, outcome } of pending) {
              const settled = await outcome;
              if (settled.status === 'rejected') {
                if ((settled.reason as { code?: string }).code !== 'USMP_E_OUTBOX_IO') throw settled.reason;
                continue;
              }
              if (stored.has(settled.value)) throw new Error(`seq ${settled.value} given twice`);
              stored.set(settled.value, payload);
            }
          } else if (s.kind === 'ack') {
            const unacked = [...stored.keys()].filter((seq) => !acked.has(seq)).sort((a, b) => a - b);
            for (let i = 0; i < s.count && unacked.length > 0; i++) {
              const [seq] = unacked.splice(s.pick % unacked.length, 1);
              box.ack(seq!);
              acked.add(seq!);
            }
          } else if (s.kind === 'duplicate-ack') {
            const done = [...acked];
            if (done.length > 0) box.ack(done[s.pick % done.length]!);
          } else {
            const counted = box.bytes;
            closed = true;
            await box.close();
            const onDisk = segmentBytesOnDisk(dir);
            if (onDisk !== counted) throw new Error(`segment files hold ${onDisk} bytes where the outbox counted ${counted}`);
            box = await open();
            closed = false;
          }
          await check(`after ${s.kind}`);
        }
      } finally {
        if (!closed) await box.close();
      }
    }),
    { numRuns: 150, ...(process.env.FC_SEED ? { seed: Number(process.env.FC_SEED), path: process.env.FC_PATH, endOnFailure: true } : {}) },
  );
  t.equal(runs >= 150, true, `${runs} random sequences checked`);
});
