import t, { type Test } from 'tap';
import { join } from 'node:path';
import { AccessStore } from '../../src/collector/auth/access-store.js';
import { EVERY_SITE, type AddOutcome } from '../../src/collector/report-store.js';
import { openCollectorDatabase } from '../../src/collector/sql/open-database.js';
import type { SqlDatabase } from '../../src/collector/sql/sql-database.js';
import { SqlReportStore } from '../../src/collector/sql-report-store.js';
import { SqlTelemetryStore } from '../../src/collector/sql-telemetry-store.js';
import { alertOf, heartbeatOf, PROFILE_LIMITS, summaryOf, telemetrySite } from '../fixtures/telemetry-documents.js';
import type { ReportDocument } from '../../src/report/report-document.js';
import { canonicalJson } from '../../src/report/canonical-json.js';
import { fixtureReport, siteFixture, siteReport, type SiteFixture } from '../fixtures/national-reports.js';
import { PostgresServer } from '../fixtures/postgres-server.js';

// One suite, two databases: what the collector's stores promise (idempotent intake, each
// site's latest report, scoped reads, paging, accounts and sessions) holds alike on the
// embedded SQLite and on a real PostgreSQL started here. Two pools on one PostgreSQL take the
// same reports at once, as two collectors sharing the server would: none is stored twice and
// no site's count is lost. (A SQLite file is one collector's own: better-sqlite3 waits for a
// lock synchronously, so two connections in one process would only block each other.)

type Opener = () => Promise<SqlDatabase>;

const NOW = Date.parse('2026-11-30T12:00:00Z');

function reportOf(site: SiteFixture, run: number): { report: ReportDocument; text: string } {
  const report = siteReport(fixtureReport(), site, run, NOW) as unknown as ReportDocument;
  return { report, text: canonicalJson(report) };
}

async function conformance(t: Test, open: Opener): Promise<void> {
  const db = await open();
  // closed before the function returns: the server stops only after every pool has ended
  try {
    const store = new SqlReportStore(db);
    const sites = Array.from({ length: 12 }, (_, i) => siteFixture(100 + i));
    const received = new Date(NOW);

    await t.test('intake is idempotent by report_id', async (t) => {
      const { report, text } = reportOf(sites[0]!, 1);
      t.equal(await store.add(report, text, received), 'stored');
      t.equal(await store.add(report, text, received), 'duplicate', 'the same text again');
      t.equal(await store.add(report, JSON.stringify(report, null, 2), received), 'duplicate', 'the same signed content, indented');
      const altered = { ...report, verdict: 'fail' } as ReportDocument;
      t.equal(
        await store.add(altered, canonicalJson({ ...altered, signature: { ...report.signature!, value: 'AAAA' } }), received),
        'conflict',
        'another content under the same id',
      );
      t.equal(await store.count(), 1);
      t.equal(await store.scoped(EVERY_SITE).reportText(report.report_id), text, 'the verified text is kept as it came');
    });

    await t.test('each site shows its latest report; a late one only adds to its count', async (t) => {
      const site = sites[1]!;
      const runs = [2, 4, 3].map((run) => reportOf(site, run));
      for (const r of runs) t.equal(await store.add(r.report, r.text, received), 'stored');
      const row = (await store.scoped(EVERY_SITE).sites()).rows.find((s) => s.site_key === site.code)!;
      t.equal(row.report_id, runs[1]!.report.report_id, 'run 4, signed last, though run 3 arrived after it');
      t.equal(row.report_count, 3);
      const history = await store.scoped(EVERY_SITE).siteHistory(site.code);
      t.same(
        history.map((h) => h.report_id),
        [runs[0], runs[2], runs[1]].map((r) => r!.report.report_id),
        'history by start time',
      );
      t.equal(typeof history[0]!.up_mbps, 'number', 'figures come back as numbers');
    });

    await t.test('reads are scoped, filtered and paged alike', async (t) => {
      for (const site of sites.slice(2)) {
        const r = reportOf(site, 1);
        await store.add(r.report, r.text, received);
      }
      const all = store.scoped(EVERY_SITE);
      const { rows, total } = await all.sites();
      t.equal(total, 12);
      t.same(
        rows.map((r) => r.establishment),
        [...rows.map((r) => r.establishment)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)),
        'sorted by name, byte order',
      );
      const page2 = await all.sites({ offset: 5, limit: 5 });
      t.same(
        page2.rows.map((r) => r.site_key),
        rows.slice(5, 10).map((r) => r.site_key),
        'a page',
      );
      t.equal(page2.total, 12, 'with the total');
      const region = rows[0]!.region;
      const inRegion = rows.filter((r) => r.region === region);
      t.same(
        (await all.sites({ region })).rows.map((r) => r.site_key),
        inRegion.map((r) => r.site_key),
        'filtered by region',
      );
      const counts = await all.verdictCounts();
      t.equal(
        Object.values(counts).reduce((a, b) => a + b, 0),
        12,
        'verdict counts add up',
      );
      t.same(await all.regions(), [...new Set(rows.map((r) => r.region))].sort(), 'regions, sorted');

      const dijon = store.scoped({ kind: 'some', regions: ['DISP Dijon'], establishments: [sites[3]!.code] });
      const seen = (await dijon.sites()).rows;
      t.ok(seen.length > 0);
      t.ok(
        seen.every((s) => s.region === 'DISP Dijon' || s.site_key === sites[3]!.code),
        'a scoped reader sees only its region and its sites',
      );
      const outside = rows.find((r) => r.region !== 'DISP Dijon' && r.site_key !== sites[3]!.code)!;
      t.equal(await dijon.reportText(outside.report_id), undefined, "not another region's report");
      t.same(await dijon.siteHistory(outside.site_key), [], 'nor its history');
      t.equal(
        await dijon.count(),
        seen.reduce((n, s) => n + s.report_count, 0),
        'counts are scoped',
      );
      t.same((await store.scoped({ kind: 'some', regions: [], establishments: [] }).sites()).total, 0, 'no role, nothing');
    });

    await t.test('every report comes out once, in order, across pages', async (t) => {
      const site = sites[11]!;
      for (let run = 10; run < 10 + 230; run++) {
        const r = reportOf(site, run % 30);
        await store.add(r.report, r.text, received);
      }
      const expected = await store.count();
      const seen: string[] = [];
      let last = '';
      for await (const report of store.scoped(EVERY_SITE).eachReport()) {
        const key = `${report.started_at} ${report.report_id}`;
        if (key <= last) t.fail(`out of order: ${key} after ${last}`);
        last = key;
        seen.push(report.report_id);
      }
      t.equal(seen.length, expected, `all ${expected} reports`);
      t.equal(new Set(seen).size, seen.length, 'none twice');
    });

    await t.test('accounts, sessions and tokens', async (t) => {
      const access = new AccessStore(db);
      await access.addUser('j.martin', '$scrypt$fake', [{ kind: 'national' }], new Date(NOW));
      await t.rejects(access.addUser('j.martin', '$scrypt$other', [], new Date(NOW)), { code: 'USMP_E_USAGE' }, 'a name once');
      t.same(
        (await access.users()).map((u) => u.name),
        ['j.martin'],
      );
      const limits = { idleMs: 60_000, absoluteMs: 600_000 };
      const session = await access.createSession({ user: 'j.martin', source: 'local', roles: [{ kind: 'national' }] }, NOW);
      t.match(await access.session(session, NOW + 30_000, limits), { user: 'j.martin', createdAtMs: NOW }, 'a session, its time a number');
      t.equal(await access.session(session, NOW + 30_000 + 60_001, limits), undefined, 'idle too long');
      const made = await access.createApiToken('j.martin', 'Grafana', [{ kind: 'national' }], new Date(NOW));
      t.match(await access.apiTokenHolder(made.token, new Date(NOW)), { user: 'j.martin' });
      t.equal((await access.apiTokens('j.martin'))[0]!.last_used_at, new Date(NOW).toISOString(), 'its last use recorded');
      t.equal(await access.apiTokenHolder(made.token.slice(0, -1) + (made.token.endsWith('A') ? 'B' : 'A'), new Date(NOW)), undefined, 'a forged secret');
      const again = await access.createSession({ user: 'j.martin', source: 'local', roles: [] }, NOW);
      t.ok(await access.setPassword('j.martin', '$scrypt$new'));
      t.equal(await access.session(again, NOW + 1, limits), undefined, 'a new password ends the sessions');
      t.ok(await access.removeUser('j.martin'));
      t.equal(await access.apiTokenHolder(made.token, new Date(NOW)), undefined, "a removed user's token dies");
      t.notOk(await access.removeUser('j.martin'));
      await access.createSession({ user: 'x', source: 'oidc', roles: [] }, NOW);
      t.equal(await access.pruneSessions(NOW + 600_001, limits), 1, 'old sessions pruned');
    });
  } finally {
    await db.close();
  }
}

async function telemetryConformance(t: Test, open: Opener): Promise<void> {
  const db = await open();
  // closed before the function returns: the server stops only after every pool has ended
  try {
    const telemetry = new SqlTelemetryStore(db);
    const reports = new SqlReportStore(db);
    const [a, b, c] = [siteFixture(300), siteFixture(301), siteFixture(302)];
    const hour = Math.floor(NOW / 3_600_000) * 3_600_000;
    const at = (ms: number) => new Date(ms);

    await t.test('each document once; the latest heartbeat describes the appliance', async (t) => {
      const beat = heartbeatOf(a, 1, NOW - 600_000, { version: '0.1.0' });
      t.equal(await telemetry.add(beat, at(NOW - 600_000)), 'stored');
      t.equal(await telemetry.add(beat, at(NOW)), 'duplicate', 'the same document again');
      t.equal(await telemetry.add(heartbeatOf(a, 2, NOW - 300_000, { version: '0.2.0', state: 'degraded' }), at(NOW - 300_000)), 'stored');
      // an older heartbeat arriving late (a backlog) does not rewind the state
      t.equal(await telemetry.add(heartbeatOf(a, 3, NOW - 900_000, { version: '0.0.9' }), at(NOW)), 'stored');
      const row = (await telemetry.scoped(EVERY_SITE).grid({ nowMs: NOW })).find((r) => r.site_key === a.code)!;
      t.equal(row.version, '0.2.0', 'the version of the latest heartbeat');
      t.equal(row.link_state, 'degraded');
      t.equal(row.last_received_at, at(NOW).toISOString(), 'last heard from: the latest receipt');
      t.equal(row.hospital_connected, true, 'booleans come back as booleans');
      t.equal(row.sequence_gaps, 0);
      t.equal(await telemetry.add(heartbeatOf(a, 7, NOW - 200_000, { version: '0.2.0' }), at(NOW)), 'stored');
      t.equal(
        (await telemetry.scoped(EVERY_SITE).grid({ nowMs: NOW })).find((r) => r.site_key === a.code)!.sequence_gaps,
        3,
        'sequence 4 to 6 never came: a gap of 3',
      );
    });

    await t.test('hourly summaries: once per site and hour, on the grid and the timelines', async (t) => {
      for (let h = 1; h <= 30; h++) {
        const degraded = h <= 3 ? 20 : 0;
        const summary = summaryOf(b, 100 + h, hour - h * 3_600_000, {
          rtt_ms: { median: 10 + h, p95: 20 + h },
          degraded_minutes: { overall: degraded, rtt_ms: degraded },
          availability_pct: h === 2 ? 95 : 100,
          loss_pct: { up: h === 1 ? 2 : 0, down: 0 },
        });
        t.equal(await telemetry.add(summary, at(NOW)), 'stored');
        if (h === 1)
          t.equal(
            await telemetry.add({ ...summary, document_id: '00000000-0000-4000-8000-000000000001' }, at(NOW)),
            'duplicate',
            'another document for the same hour',
          );
      }
      const row = (await telemetry.scoped(EVERY_SITE).grid({ nowMs: NOW })).find((r) => r.site_key === b.code)!;
      t.equal(row.minutes_observed, 24 * 60, 'the grid sums the last 24 hours');
      t.equal(row.degraded_min, 60, '3 hours × 20 min degraded');
      t.equal(row.rtt_p95_ms, 20 + 24, 'RTT p95: the worst hour of the 24');
      t.ok(Math.abs(row.availability_pct! - (100 - 5 / 24)) < 1e-9, `availability weighted by minutes (${row.availability_pct})`);
      t.ok(Math.abs(row.loss_pct! - 2 / 24) < 1e-9, `loss weighted by minutes (${row.loss_pct})`);
      t.equal(row.limit_rtt_ms, PROFILE_LIMITS.rtt_ms, 'the limits of the latest summary');
      const thirty = await telemetry.scoped(EVERY_SITE).timeline(b.code, '30d', NOW);
      t.equal(thirty.points.length, 30, 'hour by hour');
      const year = await telemetry.scoped(EVERY_SITE).timeline(b.code, '12m', NOW);
      t.ok(year.points.length >= 2 && year.points.length <= 3, 'day by day');
      t.equal(
        year.points.reduce((n, p) => n + p.minutes_observed, 0),
        30 * 60,
        'the daily roll-up holds every hour',
      );
      t.equal(
        year.points.reduce((n, p) => n + p.degraded_min, 0),
        60,
      );
      const exported: string[] = [];
      for await (const r of telemetry.scoped(EVERY_SITE).eachHourly()) exported.push(`${r.site_key} ${r.hour_start}`);
      t.equal(exported.length, 30, 'every hour exported once');
      t.same(exported, [...exported].sort(), 'by site then hour');
    });

    await t.test('alerts, scopes and versions', async (t) => {
      t.equal(await telemetry.add(alertOf(c, 1, NOW - 60_000), at(NOW)), 'stored');
      t.equal(await telemetry.add(alertOf(c, 2, NOW - 30_000, 'cleared'), at(NOW)), 'stored');
      t.equal((await telemetry.scoped(EVERY_SITE).timeline(c.code, '30d', NOW)).alerts.length, 2);
      const region = telemetrySite(c).region;
      const scoped = telemetry.scoped({ kind: 'some', regions: [region], establishments: [] });
      const rows = await scoped.grid({ nowMs: NOW });
      t.ok(rows.length >= 1 && rows.every((r) => r.region === region), 'a regional reader sees its region only');
      t.same((await scoped.timeline(a.code, '30d', NOW)).points, [], "not another region's timeline");
      t.same(await telemetry.scoped({ kind: 'some', regions: [], establishments: [] }).grid({ nowMs: NOW }), [], 'no role, nothing');
      const versions = await telemetry.scoped(EVERY_SITE).versions();
      t.ok(versions.some((v) => v.version === '0.2.0' && v.sites.includes(a.code)));
      // a site known only by its qualification report is on the grid too, never heard from
      const r = reportOf(siteFixture(303), 1);
      await reports.add(r.report, r.text, at(NOW));
      const only = (await telemetry.scoped(EVERY_SITE).grid({ nowMs: NOW })).find((g) => g.site_key === r.report.site.establishment_code)!;
      t.equal(only.last_received_at, null);
      t.equal(only.verdict, r.report.verdict);
    });

    await t.test('silence: flagged once, cleared once heard from', async (t) => {
      const first = await telemetry.silence(NOW + 3_600_000, NOW + 1_800_000);
      t.same(first.silent.map((s) => s.site_key).sort(), [a.code, b.code, c.code].sort(), 'every appliance not heard from for 30 min');
      t.same((await telemetry.silence(NOW + 3_600_000, NOW + 1_800_000)).silent, [], 'flagged once');
      await telemetry.add(heartbeatOf(a, 8, NOW + 3_600_000), at(NOW + 3_600_000));
      const again = await telemetry.silence(NOW + 3_600_001, NOW + 1_800_001);
      t.same(
        again.heard.map((s) => s.site_key),
        [a.code],
        'heard from again',
      );
      t.same(again.silent, []);
    });

    await t.test('calls seen on the network: by month on the site, this month on the grid, a year in the acts', async (t) => {
      const d = siteFixture(304);
      const monthStart = Date.UTC(new Date(NOW).getUTCFullYear(), new Date(NOW).getUTCMonth(), 1);
      const calls = (n: number, poor: number) => ({ calls: n, attempts: 1, minutes: n * 20, good: n - poor, fair: 0, poor });
      // this month: 3 + 2 calls in two hours; last month: 4; an hour from an appliance that counts no call
      t.equal(await telemetry.add(summaryOf(d, 1, monthStart + 3_600_000, { calls: calls(3, 1) }), at(NOW)), 'stored');
      t.equal(await telemetry.add(summaryOf(d, 2, monthStart + 7_200_000, { calls: calls(2, 0) }), at(NOW)), 'stored');
      t.equal(await telemetry.add(summaryOf(d, 3, monthStart - 86_400_000, { calls: calls(4, 2) }), at(NOW)), 'stored');
      t.equal(await telemetry.add(summaryOf(d, 4, monthStart + 10_800_000), at(NOW)), 'stored');
      const months = await telemetry.scoped(EVERY_SITE).callsByMonth(d.code, NOW);
      const thisMonth = new Date(monthStart).toISOString().slice(0, 7);
      const lastMonth = new Date(monthStart - 86_400_000).toISOString().slice(0, 7);
      t.same(
        months,
        [
          { month: thisMonth, calls: 5, minutes: 100, attempts: 2, good: 4, fair: 0, poor: 1 },
          { month: lastMonth, calls: 4, minutes: 80, attempts: 1, good: 2, fair: 0, poor: 2 },
        ],
        'the current month first',
      );
      const row = (await telemetry.scoped(EVERY_SITE).grid({ nowMs: NOW })).find((r) => r.site_key === d.code)!;
      t.same([row.calls_month, row.calls_poor_month], [5, 1], "the grid: this month's calls, and the poor ones");
      t.same((await telemetry.scoped(EVERY_SITE).acts(NOW)).get(d.code), { calls: 9, minutes: 180, attempts: 3, poor: 3 }, 'the last 365 days');
      const stored = await db.one<{ calls: unknown }>('SELECT calls FROM hourly WHERE site_key = $1 AND hour_start = $2', [
        d.code,
        new Date(monthStart + 10_800_000).toISOString(),
      ]);
      t.equal(stored!.calls, null, 'an hour without counts stays unknown, not zero');
      t.same(await telemetry.scoped({ kind: 'some', regions: [], establishments: [] }).callsByMonth(d.code, NOW), [], "outside the reader's scope: nothing");
    });

    await t.test('retention: heartbeats 30 days, summaries two years; their daily roll-ups stay', async (t) => {
      const old = NOW - 40 * 86_400_000;
      await telemetry.add(heartbeatOf(c, 10, old), at(old));
      await telemetry.add(summaryOf(c, 11, hour - 800 * 86_400_000), at(NOW));
      const removed = await telemetry.compact(NOW);
      t.equal(removed.heartbeats, 1);
      t.equal(removed.hourly, 1);
      const days = await db.one<{ n: unknown }>('SELECT COUNT(*) AS n FROM heartbeats_daily WHERE site_key = $1 AND day = $2', [
        c.code,
        new Date(old).toISOString().slice(0, 10),
      ]);
      t.equal(Number(days!.n), 1, "the day's heartbeat count stays");
    });
  } finally {
    await db.close();
  }
}

async function concurrentIntake(t: Test, open: Opener): Promise<void> {
  const first = await open();
  const second = await open();
  const stores = [new SqlReportStore(first), new SqlReportStore(second)];
  const sites = Array.from({ length: 4 }, (_, i) => siteFixture(200 + i));
  const reports = sites.flatMap((site) => Array.from({ length: 15 }, (_, run) => reportOf(site, run)));
  // both collectors take every report, in opposite orders, all at once
  const outcomes = await Promise.all([
    ...reports.map((r) => stores[0]!.add(r.report, r.text, new Date(NOW))),
    ...[...reports].reverse().map((r) => stores[1]!.add(r.report, r.text, new Date(NOW))),
  ]);
  const tally = (o: AddOutcome) => outcomes.filter((x) => x === o).length;
  t.equal(tally('stored'), reports.length, 'each report stored once');
  t.equal(tally('duplicate'), reports.length, 'and found a duplicate by the other');
  t.equal(tally('conflict'), 0);
  t.equal(await stores[1]!.count(), reports.length, 'the other collector counts them all');
  const { rows } = await stores[1]!.scoped(EVERY_SITE).sites();
  t.same(
    rows.map((r) => r.report_count),
    [15, 15, 15, 15],
    "no site's count lost",
  );
  for (const row of rows) {
    const latest = reports
      .filter((r) => r.report.site.establishment_code === row.site_key)
      .sort((a, b) => (a.report.signature!.signed_at < b.report.signature!.signed_at ? 1 : -1))[0]!;
    t.equal(row.report_id, latest.report.report_id, `${row.site_key}: its latest report`);
  }
  await first.close();
  await second.close();
}

t.test('SQLite', async (t) => {
  const dir = t.testdir();
  let n = 0;
  const fresh = (): Opener => {
    const path = join(dir, `collector-${n++}.sqlite`);
    return () => openCollectorDatabase({ kind: 'sqlite', path });
  };
  t.test('conformance', (t) => conformance(t, fresh()));
  t.test('telemetry', (t) => telemetryConformance(t, fresh()));
});

t.test('PostgreSQL', async (t) => {
  const server = await PostgresServer.start({ durable: false });
  t.teardown(() => server.stop());
  let n = 0;
  const fresh = async (): Promise<Opener> => {
    const access = await server.createDatabase(`usmp_collector_${n++}`);
    return () =>
      openCollectorDatabase({
        kind: 'postgres',
        url: access.url,
        password: access.password,
        poolSize: 8,
        onPoolError: (err) => t.fail(`pool: ${err.message}`),
      });
  };
  t.test('conformance', async (t) => conformance(t, await fresh()));
  t.test('telemetry', async (t) => telemetryConformance(t, await fresh()));
  t.test('two pools take the same reports at once', async (t) => concurrentIntake(t, await fresh()));
  t.test("a wrong password is refused with the store's code, and the password is never shown", async (t) => {
    const access = await server.createDatabase('usmp_wrong');
    const err = await openCollectorDatabase({
      kind: 'postgres',
      url: access.url,
      password: 'not-the-password',
      poolSize: 1,
      onPoolError: () => undefined,
    }).catch((e: Error & { code?: string }) => e);
    t.match(err, { code: 'USMP_E_REPORT_STORE', message: /password authentication failed/ });
    t.notMatch((err as Error).message, /not-the-password/);
  });
  t.test('a database of a newer layout is refused, not rewritten', async (t) => {
    const open = await fresh();
    const db = await open();
    await db.run("INSERT INTO usmp_schema (version, what) VALUES (99, 'from the future')");
    await db.close();
    await t.rejects(open(), { code: 'USMP_E_REPORT_STORE', message: /newer usmp-edge \(layout 99/ });
  });
});
