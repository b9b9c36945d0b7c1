import t from 'tap';
import { chmodSync } from 'node:fs';
import { collectorClient } from '../../src/report/upload/collector-client.js';
import { CollectorProcess } from '../fixtures/collector-process.js';
import { httpsGet } from '../fixtures/https-get.js';
import { enrolmentOf, fixtureReport, siteFixture, siteReport } from '../fixtures/national-reports.js';
import { PostgresServer } from '../fixtures/postgres-server.js';
import { heartbeatOf, signed, summaryOf, telemetrySite } from '../fixtures/telemetry-documents.js';
import { TestCa } from '../fixtures/test-pki.js';

// Two collector processes on one PostgreSQL, as a ministry would run them behind a load
// balancer: every document posted to both at once is stored once, and both serve the same
// views; a token made on one opens the other (accounts, sessions and tokens are in the database).

t.test('two collectors, one PostgreSQL', async (t) => {
  const dir = t.testdir();
  const server = await PostgresServer.start({ durable: false });
  t.teardown(() => server.stop());
  const db = await server.createDatabase('usmp_collector');
  const ca = new TestCa('usmp test national CA');
  t.teardown(() => ca.cleanup());
  const certificate = ca.issue('127.0.0.1', 'IP:127.0.0.1');
  chmodSync(certificate.keyFile, 0o600);
  const sites = Array.from({ length: 4 }, (_, i) => siteFixture(800 + i));
  const configFile = CollectorProcess.configFile(dir, {
    enrolments: sites.map((s) => enrolmentOf(s.key, s.applianceId, { establishmentCode: s.code, region: telemetrySite(s).region })),
    tls: certificate,
    extra: { postgres: { url: db.url, password_file: db.passwordFile }, intake_requests_per_minute: 1_000_000 },
  });
  // started together: the migrations run once, under PostgreSQL's advisory lock
  const [a, b] = await Promise.all([CollectorProcess.start(configFile), CollectorProcess.start(configFile)]);
  t.teardown(() => Promise.all([a.stop(), b.stop()]));
  await a.addUser('national-team', ['national']);
  const token = await b.token('national-team');

  const hour = Math.floor(Date.now() / 3_600_000) * 3_600_000;
  const documents = sites.flatMap((s) => [
    signed(siteReport(fixtureReport(), s, 1), s.key),
    ...Array.from({ length: 12 }, (_, k) => signed(summaryOf(s, k + 1, hour - (12 - k) * 3_600_000), s.key)),
    signed(heartbeatOf(s, 13, Date.now() - 1000), s.key),
  ]);
  const postA = collectorClient(a.intakeUrl, ca.caFile);
  const postB = collectorClient(b.intakeUrl, ca.caFile);
  const answers = await Promise.all(documents.flatMap((d) => [postA(JSON.stringify(d)), postB(JSON.stringify(d))]));
  const statuses = answers.map((x) => x.status);
  t.equal(statuses.filter((s) => s === 201).length, documents.length, 'each document stored once');
  t.equal(statuses.filter((s) => s === 200).length, documents.length, 'and found a duplicate by the other collector');

  const read = (c: CollectorProcess, path: string) => httpsGet(`${c.url}${path}`, ca.caPem, 30_000, { authorization: `Bearer ${token}` });
  const [fleetA, fleetB] = await Promise.all([read(a, '/api/v1/fleet'), read(b, '/api/v1/fleet')]);
  const rowsA = (JSON.parse(fleetA.body) as { sites: Array<Record<string, unknown>> }).sites;
  t.equal(rowsA.length, 4, 'four sites on the grid');
  t.same(
    rowsA.map((r) => [r['site_key'], r['degraded_min'], r['minutes_observed'], r['verdict']]),
    (JSON.parse(fleetB.body) as { sites: Array<Record<string, unknown>> }).sites.map((r) => [
      r['site_key'],
      r['degraded_min'],
      r['minutes_observed'],
      r['verdict'],
    ]),
    'both serve the same grid',
  );
  t.ok(
    rowsA.every((r) => r['minutes_observed'] === 12 * 60 && r['last_heartbeat_at'] !== null),
    'every hour and the heartbeat of each site, once',
  );
  const status = await Promise.all([read(a, '/api/v1/status'), read(b, '/api/v1/status')]);
  t.same(
    status.map((s) => (JSON.parse(s.body) as { reports: number }).reports),
    [4, 4],
    'four reports, seen by both',
  );
  t.equal(a.logLines.filter((l) => l['event'] === 'collector.listening').length, 2);
});
