import t from 'tap';
import { OwnerUsage } from '../../src/bridge/outbox/owner-usage.js';

// Each device's share of the outbox: charged when a message is stored, bound to its seq once on
// disk, released by the hospital's acknowledgement of that seq, taken back if the write failed.

t.test('charge, bind, release by seq, in any order; a failed write is taken back', async (t) => {
  const usage = new OwnerUsage();
  for (const [seq, owner, bytes] of [
    [0, 'ecg-1', 100],
    [1, 'ecg-2', 2],
    [4095, 'ecg-1', 50],
    [4096, 'ecg-1', 25],
  ] as const) {
    usage.charge(owner, bytes);
    usage.bind(seq, owner, bytes);
  }
  t.same(usage.of('ecg-1'), { messages: 3, bytes: 175 });
  t.same(usage.of('ecg-2'), { messages: 1, bytes: 2 });
  usage.release(4096); // acknowledgements can come out of order (send lanes)
  usage.release(0);
  usage.release(0); // twice: nothing more
  t.same(usage.of('ecg-1'), { messages: 1, bytes: 50 });
  usage.charge('ecg-2', 10); // being written…
  usage.uncharge('ecg-2', 10); // …and the write failed
  t.same(usage.of('ecg-2'), { messages: 1, bytes: 2 });
  usage.release(4095);
  usage.release(1);
  t.same(
    [usage.of('ecg-1'), usage.of('ecg-2')],
    [
      { messages: 0, bytes: 0 },
      { messages: 0, bytes: 0 },
    ],
    'all released',
  );
  usage.release(123_456); // never bound: ignored
});
