import t from 'tap';
import { GroupCommitWriter, type Placement } from '../../src/bridge/outbox/group-commit-writer.js';

// The group-commit writer on its own, with a file whose writes the test completes by hand.

interface Entry {
  bytes: Buffer;
  name: string;
}

function handFile() {
  const writes: Array<{ position: number; length: number; finish: (error?: Error) => void }> = [];
  const file = {
    writev: (buffers: Buffer[], position: number) =>
      new Promise<{ bytesWritten: number }>((resolve, reject) => {
        const length = buffers.reduce((sum, b) => sum + b.length, 0);
        writes.push({ position, length, finish: (error) => (error ? reject(error) : resolve({ bytesWritten: length })) });
      }),
  };
  return { file, writes };
}

const entry = (name: string): Entry => ({ name, bytes: Buffer.from(name) });
const turn = () => new Promise(setImmediate);

t.test('batches: what queues during a write shares the next one; two in flight; acknowledged in order even when the disk finishes out of order', async (t) => {
  const { file, writes } = handFile();
  const committed: string[][] = [];
  const places: number[] = [];
  const writer = new GroupCommitWriter<Entry>({
    place: async () => {
      places.push(writes.length);
      return { file, offset: 0, limit: 1000 } satisfies Placement;
    },
    committed: (batch, offset) => committed.push([String(offset), ...batch.map((e) => e.name)]),
    failed: () => t.fail('nothing fails here'),
  });
  writer.submit(entry('a'));
  await turn();
  writer.submit(entry('bb'));
  await turn();
  writer.submit(entry('c'));
  writer.submit(entry('d'));
  await turn();
  t.same(
    writes.map((w) => [w.position, w.length]),
    [
      [0, 1],
      [1, 2],
    ],
    'two writes in flight, each at its own offset; the rest waits',
  );
  writes[1]!.finish();
  await turn();
  t.same(committed, [], 'the second write is not acknowledged before the first');
  writes[0]!.finish();
  await turn();
  t.same(committed, [
    ['0', 'a'],
    ['1', 'bb'],
  ]);
  t.same(
    writes.slice(2).map((w) => [w.position, w.length]),
    [[3, 2]],
    'c and d, queued meanwhile, share one write',
  );
  writes[2]!.finish();
  await writer.drained();
  t.same(committed.at(-1), ['3', 'c', 'd']);
  t.same(places, [0], 'one place asked for');
});

t.test('a failure refuses the batch behind it too, then a new place is asked for at once, before anything else is written', async (t) => {
  const { file, writes } = handFile();
  const events: string[] = [];
  const writer = new GroupCommitWriter<Entry>({
    place: async (waiting, failure) => {
      events.push(`place(${failure ? failure.message : 'first'}; waiting ${waiting.map((e) => e.name).join('') || 'none'})`);
      return { file, offset: 0, limit: 1000 };
    },
    committed: (batch) => events.push(`committed ${batch.map((e) => e.name).join('')}`),
    failed: (batch, error) => events.push(`failed ${batch.map((e) => e.name).join('')}: ${error.message}`),
  });
  writer.submit(entry('a'));
  await turn();
  writer.submit(entry('b'));
  await turn();
  writer.submit(entry('c'));
  await turn();
  writes[1]!.finish(); // b reached the disk, behind a
  writes[0]!.finish(new Error('ENOSPC'));
  for (let i = 0; i < 5 && writes.length < 3; i++) await turn();
  writes[2]?.finish();
  await writer.drained();
  t.same(events.slice(0, 4), ['place(first; waiting a)', 'failed a: ENOSPC', 'failed b: ENOSPC', 'place(ENOSPC; waiting c)']);
  t.equal(writes.length, 3, 'c is written after the new place');
  t.equal(writes[2]!.position, 0, 'at the place given');
  t.same(events.at(-1), 'committed c');
});

t.test('no place to write: what waits is refused, not left waiting', async (t) => {
  const writer = new GroupCommitWriter<Entry>({
    place: () => Promise.reject(new Error('EROFS: read-only file system')),
    committed: () => t.fail('nothing is committed'),
    failed: (batch, error) => t.same([batch.map((e) => e.name), error.message], [['a'], 'EROFS: read-only file system']),
  });
  writer.submit(entry('a'));
  await writer.drained();
});
