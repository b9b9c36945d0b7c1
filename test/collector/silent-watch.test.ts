import t from 'tap';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { pino } from 'pino';
import { SilentWatch, type SilentNotice } from '../../src/collector/silent-watch.js';
import { SqlTelemetryStore } from '../../src/collector/sql-telemetry-store.js';
import { WebhookSink } from '../../src/monitor/alerts/webhook-sink.js';
import { until } from '../fixtures/bounded.js';
import { migratedSqlite } from '../fixtures/collector-database.js';
import { siteFixture } from '../fixtures/national-reports.js';
import { heartbeatOf } from '../fixtures/telemetry-documents.js';

// The collector's own alert, on an injected clock: nobody is flagged during the watch's first
// silent delay; then an appliance not heard from is posted once to the webhook (with its bearer
// token) as silent, and once as heard when a document arrives again.

t.test('silent and heard again, posted to the webhook once each', async (t) => {
  const db = await migratedSqlite();
  t.teardown(() => db.close());
  const store = new SqlTelemetryStore(db);
  const received: Array<{ auth: string | undefined; notice: SilentNotice }> = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      received.push({ auth: req.headers.authorization, notice: JSON.parse(body) as SilentNotice });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const port = (server.address() as { port: number }).port;
  const log = pino({ level: 'silent' });
  let now = Date.parse('2026-12-01T10:00:00Z');
  const webhook = new WebhookSink<SilentNotice>({
    url: `http://127.0.0.1:${port}/hook`,
    authorization: 'Bearer hook-token',
    maxAttempts: 3,
    timeoutMs: 5000,
    deadLetterFile: join(t.testdir(), 'dead.jsonl'),
    log,
  });
  const watch = new SilentWatch({ store, silentAfterMs: 30 * 60_000, log, webhook, now: () => now });
  const [a, b] = [siteFixture(900), siteFixture(901)];
  await store.add(heartbeatOf(a, 1, now - 3_600_000), new Date(now - 3_600_000));
  await store.add(heartbeatOf(b, 1, now), new Date(now));

  await watch.check();
  t.same(received, [], "nothing during the watch's own first 30 minutes (a backlog may still be on its way)");
  now += 31 * 60_000;
  await watch.check();
  await until('the silent notice', 5000, () => received.length === 2);
  t.same(
    received.map((r) => [r.notice.kind, r.notice.site_key]).sort(),
    [
      ['silent', a.code],
      ['silent', b.code],
    ].sort(),
    'both silent now: A for 91 minutes, B for 31',
  );
  t.ok(
    received.every((r) => r.auth === 'Bearer hook-token'),
    'with the bearer token',
  );
  t.match(received.find((r) => r.notice.site_key === a.code)!.notice.message, /silent: nothing received since/);
  await watch.check();
  t.equal(received.length, 2, 'posted once');
  await store.add(heartbeatOf(a, 2, now), new Date(now));
  now += 60_000;
  await watch.check();
  await until('the heard notice', 5000, () => received.length === 3);
  t.same([received[2]!.notice.kind, received[2]!.notice.site_key], ['heard', a.code], 'A heard from again');
  await watch.check();
  await watch.stop();
  t.equal(received.length, 3, 'and that once');
});
