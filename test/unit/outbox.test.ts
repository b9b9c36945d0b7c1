import t from 'tap';
import { spawn } from 'node:child_process';
import { appendFileSync, constants as fsConstants, readdirSync, statSync } from 'node:fs';
import { open as openFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { DurableOutbox } from '../../src/bridge/outbox/outbox.js';
import { encodeRecord } from '../../src/bridge/outbox/record.js';

// The durable outbox: a message is acknowledged only once on disk; bounded; no
// silent drop; survives SIGKILL (every resolved append is there after a restart).

const open = (dir: string, extra: Partial<Parameters<typeof DurableOutbox.open>[0]> = {}): Promise<DurableOutbox> =>
  DurableOutbox.open({ dir, maxMessages: 1_000_000, maxBytes: 1024 ** 3, ...extra });

t.test('append, read, ack, and the same after a restart', async (t) => {
  const dir = t.testdir();
  let box = await open(dir);
  const seqs = await Promise.all(Array.from({ length: 100 }, (_, i) => box.append(`usmp/dev1/m`, Buffer.from(`payload ${i}`))));
  t.same(
    seqs,
    Array.from({ length: 100 }, (_, i) => i),
    'seqs in append order',
  );
  t.equal(box.depth, 100);
  for (let seq = 0; seq < 40; seq++) box.ack(seq);
  box.ack(50);
  t.equal(box.depth, 59, '41 acknowledged');
  const first = await box.read(0, 5);
  t.same(
    first.map((m) => m.seq),
    [40, 41, 42, 43, 44],
    'reads start at the first unacknowledged',
  );
  t.equal(first[0]!.payload.toString(), 'payload 40');
  t.equal(first[0]!.topic, 'usmp/dev1/m');
  await box.close();

  box = await open(dir);
  t.equal(box.depth, 59, 'acks survive a restart');
  t.notOk(
    (await box.read(49, 3)).some((m) => m.seq === 50),
    'an acked message is not read again',
  );
  t.equal(await box.append('usmp/dev1/m', Buffer.from('after')), 100, 'seqs continue after a restart');
  await box.close();
});

t.test('full: refused with a code, never dropped; space comes back with acks', async (t) => {
  const box = await open(t.testdir(), { maxMessages: 5 });
  for (let i = 0; i < 5; i++) await box.append('t', Buffer.from('x'));
  await t.rejects(box.append('t', Buffer.from('x')), { code: 'USMP_E_OUTBOX_FULL' });
  t.equal(box.depth, 5, 'nothing dropped');
  box.ack(0);
  t.equal(await box.append('t', Buffer.from('y')), 5);
  await box.close();
});

t.test('segments roll over and go once all their messages are acknowledged', async (t) => {
  const dir = t.testdir();
  const box = await open(dir, { segmentBytes: 4096 });
  for (let i = 0; i < 200; i++) await box.append('usmp/dev1/m', Buffer.alloc(100, i));
  const segments = (): number => readdirSync(dir).filter((f) => f.startsWith('seg-')).length;
  t.ok(segments() > 3, `${segments()} segments`);
  const before = segments();
  for (let seq = 0; seq < 200; seq++) box.ack(seq);
  t.equal(segments(), before, 'no file is deleted on the acknowledgement path itself');
  t.equal(box.depth, 0);
  t.equal(box.oldestEnqueuedAt, undefined);
  t.equal(
    box.bytes,
    statSync(
      join(
        dir,
        readdirSync(dir)
          .filter((f) => f.startsWith('seg-'))
          .at(-1)!,
      ),
    ).size,
    'only the active segment is counted at once',
  );
  await box.close();
  t.equal(segments(), 1, 'the acknowledged segments are deleted (off the ack path, finished by close)');
});

t.test('a failed write refuses that batch and the one behind it; waiting appends are renumbered; the log stays gapless', async (t) => {
  const dir = t.testdir();
  let failNext = false;
  // a real O_DSYNC file whose next write fails once, slowly (as ENOSPC would), injected as the segment file
  const openSegmentFile = async (path: string) => {
    const handle = await openFile(path, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_DSYNC, 0o600);
    return {
      writev: (buffers: Buffer[], position: number) => {
        if (!failNext) return handle.writev(buffers, position);
        failNext = false;
        return new Promise<never>((_, reject) => setTimeout(() => reject(Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' })), 30));
      },
      truncate: (length: number) => handle.truncate(length),
      close: () => handle.close(),
    };
  };
  let box = await open(dir, { openSegmentFile });
  for (let i = 0; i < 10; i++) await box.append('t', Buffer.from(`kept ${i}`));
  failNext = true;
  const wave = (name: string) => Array.from({ length: 5 }, (_, i) => box.append('t', Buffer.from(`${name} ${i}`)));
  const failing = wave('failing'); // the write that fails
  await new Promise(setImmediate);
  const behind = wave('behind'); // written at once, but behind the failure
  await new Promise(setImmediate);
  const waiting = wave('waiting'); // queued: two writes are already in flight
  for (const outcome of await Promise.allSettled([...failing, ...behind])) {
    t.match(outcome, { status: 'rejected', reason: { code: 'USMP_E_OUTBOX_IO', message: /ENOSPC/ } });
  }
  t.same(await Promise.all(waiting), [10, 11, 12, 13, 14], 'the waiting appends are renumbered right after what was acknowledged');
  await box.close();

  box = await open(dir);
  const back = await box.read(0, 100);
  t.same(
    back.map((m) => m.seq),
    Array.from({ length: 15 }, (_, i) => i),
    'every acknowledged message is read back, no gap',
  );
  t.same(
    back.slice(10).map((m) => m.payload.toString()),
    [0, 1, 2, 3, 4].map((i) => `waiting ${i}`),
  );
  await box.close();
});

t.test('recovery cuts a record out of sequence (the stale tail of a rewound write)', async (t) => {
  const dir = t.testdir();
  let box = await open(dir);
  for (let i = 0; i < 3; i++) await box.append('t', Buffer.from(`m${i}`));
  await box.close();
  const [segment] = readdirSync(dir).filter((f) => f.startsWith('seg-'));
  appendFileSync(join(dir, segment!), encodeRecord({ seq: 7, enqueuedAtMs: 0, qos: 1, topic: 't', payload: Buffer.from('stale') }));
  const problems: string[] = [];
  box = await open(dir, { onRecoveryProblem: (p) => problems.push(p.reason) });
  t.same(problems, ['record 7 where 3 was due']);
  t.equal(box.depth, 3);
  t.equal(await box.append('t', Buffer.from('next')), 3);
  await box.close();
});

t.test('recovery reads records larger than its 4 MiB scan buffer, and many small ones across it', async (t) => {
  const dir = t.testdir();
  let box = await open(dir);
  const big = Buffer.alloc(6 * 1024 * 1024, 7);
  for (let i = 0; i < 20_000; i++) void box.append('usmp/dev1/small', Buffer.alloc(300, i % 256));
  await box.append('usmp/dev1/image', big);
  await box.append('usmp/dev1/small', Buffer.from('after'));
  await box.close();
  const problems: unknown[] = [];
  box = await open(dir, { onRecoveryProblem: (p) => problems.push(p) });
  t.same(problems, [], 'nothing reported');
  t.equal(box.depth, 20_002, 'every message found again');
  const [image, after] = await box.read(20_000, 2);
  t.ok(image!.payload.equals(big), 'the 6 MiB record intact');
  t.equal(after!.payload.toString(), 'after');
  await box.close();
});

t.test('a torn write at the end (power cut) is cut off and reported', async (t) => {
  const dir = t.testdir();
  let box = await open(dir);
  for (let i = 0; i < 10; i++) await box.append('t', Buffer.from(`m${i}`));
  await box.close();
  const segment = readdirSync(dir).find((f) => f.startsWith('seg-'))!;
  appendFileSync(join(dir, segment), Buffer.from([40, 0, 0, 0, 1, 2, 3]));
  const problems: string[] = [];
  box = await open(dir, { onRecoveryProblem: (p) => problems.push(p.reason) });
  t.same(problems, ['torn record at the end']);
  t.equal(box.depth, 10, 'the 10 complete messages are kept');
  t.equal(await box.append('t', Buffer.from('next')), 10);
  t.same((await box.read(0, 20)).map((m) => m.payload.toString()).slice(-2), ['m9', 'next']);
  await box.close();
});

t.test('SIGKILL at 20 random moments: every resolved append is there afterwards', async (t) => {
  const dir = t.testdir();
  const writer = fileURLToPath(new URL('../fixtures/outbox/writer.ts', import.meta.url));
  const promised = new Map<number, string>();
  for (let round = 0; round < 20; round++) {
    const child = spawn(process.execPath, ['--import', 'tsx', writer, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
    let seen = 0;
    const killAfter = 50 + Math.floor(Math.random() * 2000);
    await new Promise<void>((resolve) => {
      createInterface({ input: child.stdout }).on('line', (line) => {
        const [seq, text] = line.split(' ');
        if (seq === 'ready') return;
        promised.set(Number(seq), text!);
        if (++seen === killAfter) child.kill('SIGKILL');
      });
      child.once('exit', () => resolve());
    });
  }
  const box = await open(dir);
  const stored = new Map((await box.read(0, 10_000_000)).map((m) => [m.seq, m.payload.toString().split(':')[0]!]));
  const missing = [...promised].filter(([seq, text]) => stored.get(seq) !== text);
  t.same(missing, [], `${promised.size} acknowledged appends over 20 kills, all present`);
  t.equal(stored.size, box.depth, 'nothing half-written is counted');
  await box.close();
});
