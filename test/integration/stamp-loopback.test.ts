import t from 'tap';
import { createSocket } from 'node:dgram';
import { summariseLatency } from '../../src/measure/stamp/metrics.js';
import { StampReflector } from '../../src/measure/stamp/reflector.js';
import { runStampSession } from '../../src/measure/stamp/sender.js';

// Our sender against our reflector on loopback: real sockets, real timers.

async function reflector(options: Partial<ConstructorParameters<typeof StampReflector>[0]> = {}) {
  const r = new StampReflector({ bind: '127.0.0.1', port: 0, mode: 'stateful', maxSessions: 64, maxPpsPerPeer: 10_000, errorEstimate: 0x0001, ...options });
  const { port } = await r.start();
  return { r, port };
}

t.test('a clean session: nothing lost, small RTT, contract fields present', async (t) => {
  const { r, port } = await reflector();
  t.teardown(() => r.stop());
  const session = await runStampSession({ target: '127.0.0.1', port, count: 200, intervalMs: 2, size: 44, waitMs: 300 });
  const s = summariseLatency(session);
  t.match(s, { sent: 200, received: 200, loss_pct: 0, duplicates: 0, reordered: 0, loss_split: { forward: 0, backward: 0 } });
  t.ok(s.rtt_ms.min > 0 && s.rtt_ms.median < 5, `loopback median ${s.rtt_ms.median} ms`);
  t.ok(s.rtt_ms.min <= s.rtt_ms.median && s.rtt_ms.median <= s.rtt_ms.p95 && s.rtt_ms.p95 <= s.rtt_ms.p99 && s.rtt_ms.p99 <= s.rtt_ms.max);
  for (const key of ['mean', 'p95', 'max'] as const) t.ok(Number.isFinite(s.ipdv_ms[key]), `ipdv ${key}`);
  t.ok(Number.isFinite(s.pdv_ms.p99));
  t.equal(s.one_way_ms, undefined, 'clocks not declared synchronised: no one-way delays');
  t.equal(r.stats().reflected, 200);
  t.ok(session.durationMs >= 398, 'paced at the interval');
});

t.test('the reflector survives malformed input and keeps serving', async (t) => {
  const { r, port } = await reflector();
  t.teardown(() => r.stop());
  const junk = createSocket('udp4');
  t.teardown(() => junk.close());
  const sessionPromise = runStampSession({ target: '127.0.0.1', port, count: 100, intervalMs: 3, size: 64, waitMs: 300 });
  for (const packet of [
    Buffer.alloc(1),
    Buffer.from('GET / HTTP/1.0\r\n\r\n'),
    Buffer.alloc(1472 + 1),
    Buffer.concat([Buffer.alloc(44), Buffer.from([0, 4, 0xff, 0xff])]),
  ]) {
    junk.send(packet, port, '127.0.0.1');
  }
  const s = summariseLatency(await sessionPromise);
  t.equal(s.received, 100, 'every real probe answered');
  const stats = r.stats();
  t.equal(stats.dropped_too_short, 2);
  t.equal(stats.dropped_too_long, 1);
  t.equal(stats.malformed_tlv, 1);
  t.equal(stats.errors, 0);
});

t.test('stateless mode copies our sequence numbers; stateful counts its own', async (t) => {
  for (const mode of ['stateless', 'stateful'] as const) {
    const { r, port } = await reflector({ mode });
    const session = await runStampSession({ target: '127.0.0.1', port, count: 5, intervalMs: 1, size: 44, ssid: 77, waitMs: 200 });
    await r.stop();
    t.same(
      session.records.map((x) => x.reflectorSeq),
      [0, 1, 2, 3, 4],
      mode,
    );
  }
});

t.test('rate limiting per peer answers at most the configured rate', async (t) => {
  const { r, port } = await reflector({ maxPpsPerPeer: 50 });
  t.teardown(() => r.stop());
  const s = summariseLatency(await runStampSession({ target: '127.0.0.1', port, count: 200, intervalMs: 1, size: 44, waitMs: 200 }));
  t.ok(s.received >= 50 && s.received <= 70, `answered ${s.received} of 200 in ~0.2 s at 50/s with a 1 s burst`);
  t.equal(r.stats().dropped_rate_limited, 200 - s.received);
});

t.test('bad sizes and busy ports are clear errors', async (t) => {
  await t.rejects(runStampSession({ target: '127.0.0.1', port: 862, count: 1, intervalMs: 1, size: 20 }), { code: 'USMP_E_USAGE' });
  const busy = await reflector();
  t.teardown(() => busy.r.stop());
  const clash = new StampReflector({ bind: '127.0.0.1', port: busy.port, mode: 'stateless', maxSessions: 1, maxPpsPerPeer: 1, errorEstimate: 1 });
  await t.rejects(clash.start(), { code: 'USMP_E_PORT_UNAVAILABLE' });
});

t.test('an abort stops the session promptly', async (t) => {
  const { r, port } = await reflector();
  t.teardown(() => r.stop());
  const controller = new AbortController();
  setTimeout(() => controller.abort(), 100);
  const started = Date.now();
  await t.rejects(runStampSession({ target: '127.0.0.1', port, count: 10_000, intervalMs: 10, size: 44, signal: controller.signal }), {
    code: 'USMP_E_ABORTED',
  });
  t.ok(Date.now() - started < 2_000);
});
