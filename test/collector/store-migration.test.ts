import t from 'tap';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { EVERY_SITE } from '../../src/collector/report-store.js';
import { SqlReportStore } from '../../src/collector/sql-report-store.js';
import { migratedSqlite } from '../fixtures/collector-database.js';
import { fixtureReport, siteFixture, siteReport } from '../fixtures/national-reports.js';

// A database written before `ordered_at` existed (layout 0) is brought up to date when opened:
// each report's ordered_at comes from its stored signature, and each site's current report is
// chosen again by it.

const LAYOUT_0_COLUMNS = [
  'report_id',
  'site_key',
  'establishment_code',
  'establishment',
  'region',
  'usmp',
  'hospital',
  'appliance_id',
  'started_at',
  'received_at',
  'verdict',
  'profile',
  'up_mbps',
  'down_mbps',
  'rtt_mean_ms',
  'ipdv_mean_ms',
  'loss_pct',
  'loaded_rtt_increase_ms',
  'remediation',
  'missing_up_mbps',
  'missing_down_mbps',
];

t.test('layout 0 → 1', async (t) => {
  const path = join(t.testdir(), 'reports.sqlite');
  const site = siteFixture(3);
  const older = siteReport(fixtureReport(), site, 1);
  const newer = siteReport(fixtureReport(), site, 2);
  const old = new Database(path);
  const types = LAYOUT_0_COLUMNS.map((c) => `${c} ${/mbps|_ms|_pct/.test(c) ? 'REAL' : 'TEXT'}`).join(', ');
  old.exec(`CREATE TABLE reports (${types}, text TEXT NOT NULL, PRIMARY KEY (report_id)) WITHOUT ROWID;
            CREATE TABLE sites (${types}, report_count INTEGER NOT NULL, PRIMARY KEY (site_key)) WITHOUT ROWID;`);
  const insert = old.prepare(`INSERT INTO reports (${LAYOUT_0_COLUMNS.join(', ')}, text) VALUES (${LAYOUT_0_COLUMNS.map((c) => `@${c}`).join(', ')}, @text)`);
  const receivedAt = new Date().toISOString();
  for (const r of [newer, older]) {
    const s = r['site'] as Record<string, string>;
    insert.run({
      ...Object.fromEntries(LAYOUT_0_COLUMNS.map((c) => [c, null])),
      report_id: r['report_id'],
      site_key: s['establishment_code'],
      establishment_code: s['establishment_code'],
      establishment: s['establishment'],
      region: s['region'],
      appliance_id: s['appliance_id'],
      started_at: r['started_at'],
      received_at: receivedAt,
      verdict: r['verdict'],
      text: JSON.stringify(r),
    });
  }
  // layout 0 chose by started_at, here wrongly the older one
  old.prepare(`INSERT INTO sites SELECT *, 2 FROM (SELECT ${LAYOUT_0_COLUMNS.join(', ')} FROM reports WHERE report_id = ?)`).run(older['report_id']);
  old.close();

  const db = await migratedSqlite(path);
  t.teardown(() => db.close());
  const store = new SqlReportStore(db);
  const { rows } = await store.scoped(EVERY_SITE).sites();
  t.equal(rows.length, 1);
  t.equal(rows[0]!.report_id, newer['report_id'], 'the site shows the report signed last');
  t.equal(rows[0]!.report_count, 2);
  t.equal(rows[0]!.ordered_at, (newer['signature'] as { signed_at: string }).signed_at, 'ordered_at is the signing time (before receipt)');
  t.equal(await store.count(), 2);
  await db.close();
  const again = await migratedSqlite(path);
  t.equal((await new SqlReportStore(again).scoped(EVERY_SITE).sites()).rows[0]!.report_id, newer['report_id'], 'opening it again changes nothing');
  await again.close();
});
