import t from 'tap';
import { chmodSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { collectorClient } from '../../src/report/upload/collector-client.js';
import { PAGE_SIZE } from '../../src/collector/dashboard-page.js';
import { NATIONAL_COLUMNS } from '../../src/report/render/national-csv.js';
import { browserUnavailableReason, launchBrowser, watchedPage } from '../fixtures/browser.js';
import { CollectorProcess } from '../fixtures/collector-process.js';
import { httpsGet } from '../fixtures/https-get.js';
import { TestCa } from '../fixtures/test-pki.js';
import { enrolmentOf, fixtureReport, REGIONS, siteFixture, siteReport } from '../fixtures/national-reports.js';

// 200 sites × 30 reports: the collector ingests them, the dashboard's
// first page renders in under 1 s in the browser, and the exported CSV has exactly one row per
// report. The dashboard and a site page render with no console error and no request outside.

const SITES = 200;
const RUNS = 30;
const unavailable = browserUnavailableReason();
// screenshots for the docs when asked (npm run screenshots), else in the test directory
const SHOTS = process.env['USMP_EDGE_SCREENSHOTS'];

t.test('200 sites × 30 reports through the real collector', unavailable ? { skip: unavailable } : {}, async (t) => {
  const dir = t.testdir();
  const shots = SHOTS ?? join(dir, 'shots');
  mkdirSync(shots, { recursive: true });
  const sites = Array.from({ length: SITES }, (_, i) => siteFixture(i + 1));
  const ca = new TestCa('usmp test national CA');
  t.teardown(() => ca.cleanup());
  const certificate = ca.issue('127.0.0.1', 'IP:127.0.0.1');
  chmodSync(certificate.keyFile, 0o600);
  // 200 appliances from one test address: the per-address limit raised as for 200 addresses
  const collector = await CollectorProcess.start(
    CollectorProcess.configFile(dir, {
      enrolments: sites.map((s) => enrolmentOf(s.key, s.applianceId, { establishmentCode: s.code })),
      tls: certificate,
      extra: { intake_requests_per_minute: 100_000 },
    }),
  );
  t.teardown(() => collector.stop());
  const password = await collector.addUser('national-team', ['national']);
  const token = await collector.token('national-team');
  const read = async (path: string) => (await httpsGet(`${collector.url}${path}`, ca.caPem, 30_000, { authorization: `Bearer ${token}` })).body;
  const base = fixtureReport();
  const post = collectorClient(collector.intakeUrl, ca.caFile);
  const sent = new Set<string>();
  const reports = sites.flatMap((site) => Array.from({ length: RUNS }, (_, run) => siteReport(base, site, run)));
  const started = performance.now();
  let next = 0;
  const statuses: Record<number, number> = {};
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < reports.length) {
        const report = reports[next++]!;
        const answer = await post(JSON.stringify(report));
        statuses[answer.status] = (statuses[answer.status] ?? 0) + 1;
        sent.add(report['report_id'] as string);
      }
    }),
  );
  const ingestS = (performance.now() - started) / 1000;
  t.same(
    statuses,
    { 201: SITES * RUNS },
    `every report stored (${SITES * RUNS} in ${ingestS.toFixed(1)} s, ${Math.round((SITES * RUNS) / ingestS)} reports/s)`,
  );

  const browser = await launchBrowser();
  t.teardown(() => browser.close());
  const w = await watchedPage(browser, { ignoreHTTPSErrors: true });
  // nothing without signing in: the dashboard sends the browser to the login page
  await w.page.goto(`${collector.url}/`, { waitUntil: 'load' });
  t.match(w.page.url(), /\/login\?next=%2F$/, 'signed out, the dashboard sends to the login page');
  await w.page.fill('input[name=username]', 'national-team');
  await w.page.fill('input[name=password]', password);
  await Promise.all([w.page.waitForURL(`${collector.url}/`), w.page.click('[data-testid=login-form] button[type=submit]')]);
  t.equal(await w.page.textContent('[data-testid=user]'), 'national-team', 'signed in with a local account');
  const timings: number[] = [];
  for (let i = 0; i < 3; i++) {
    await w.page.goto(`${collector.url}/`, { waitUntil: 'load' });
    timings.push(await w.page.evaluate(() => (performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming).loadEventEnd));
  }
  t.comment(`dashboard first page, navigation to load event: ${timings.map((x) => x.toFixed(0)).join(' / ')} ms (first, then warm)`);
  t.ok(timings[0]! < 1000, `the first page renders in under 1 s (${timings[0]!.toFixed(0)} ms)`);
  t.same(w.consoleErrors, [], 'no console error');
  t.ok(
    w.requests.every((u) => u.startsWith(collector.url)),
    'no request outside the collector',
  );
  t.equal(await w.page.textContent('[data-testid=site-total]'), String(SITES));
  t.equal(await w.page.locator('[data-testid=sites] tbody tr').count(), PAGE_SIZE, `one page of ${PAGE_SIZE} sites`);
  await w.page.screenshot({ path: join(shots, 'dashboard.png'), fullPage: false });

  // figures shown = figures of the site's latest report
  const first = w.page.locator('[data-testid=sites] tbody tr').first();
  const siteKey = (await first.getAttribute('data-site'))!;
  const latestId = (await first.getAttribute('data-report'))!;
  const latest = reports
    .filter((r) => (r['site'] as { establishment_code: string }).establishment_code === siteKey)
    .sort((a, b) => String(a['started_at']).localeCompare(String(b['started_at'])))
    .at(-1)!;
  t.equal(latestId, latest['report_id'], 'each site row shows its latest report');
  t.equal(Number(await first.locator('td.num').first().getAttribute('data-value')), (latest['measurements'] as { up_mbps: number }).up_mbps);

  // filters
  await w.page.goto(`${collector.url}/?region=${encodeURIComponent(REGIONS[3]!)}&verdict=fail`, { waitUntil: 'load' });
  const filtered = await w.page.locator('[data-testid=sites] tbody tr td:nth-child(2)').allTextContents();
  t.ok(filtered.length > 0 && filtered.every((r) => r === REGIONS[3]), 'the region filter keeps that region only');
  const verdicts = await w.page.locator('[data-testid=sites] tbody tr td:nth-child(4)').allTextContents();
  t.ok(
    verdicts.every((v) => v === 'FAIL'),
    'the verdict filter keeps FAIL only',
  );

  // a site page: its history and charts
  await w.page.goto(`${collector.url}/sites/${encodeURIComponent(siteKey)}`, { waitUntil: 'load' });
  t.equal(await w.page.locator('[data-testid=history] tbody tr').count(), RUNS, 'a site page lists all its reports');
  t.equal(await w.page.locator('[data-testid=chart-site-throughput] svg').count(), 1);
  await w.page.screenshot({ path: join(shots, 'site.png'), fullPage: true });
  await w.page.goto(`${collector.url}/reports/${latestId}.html`, { waitUntil: 'load' });
  t.equal(await w.page.getAttribute('[data-testid=verdict]', 'data-value'), latest['verdict']);
  await w.page.screenshot({ path: join(shots, 'report.png'), fullPage: true });
  t.same(w.consoleErrors, [], 'no console error on any page');
  t.ok(
    w.requests.every((u) => u.startsWith(collector.url)),
    'no request outside the collector on any page',
  );

  // exports: one CSV row per report, the JSON and pScheduler ones complete
  const csv = await read('/export/reports.csv');
  const lines = csv.trimEnd().split('\r\n');
  t.equal(lines[0], NATIONAL_COLUMNS.join(','), 'the national columns');
  t.equal(lines.length - 1, SITES * RUNS, 'exactly one CSV row per report');
  const ids = new Set(lines.slice(1).map((l) => l.split(',')[0]!));
  t.equal(ids.size, SITES * RUNS, 'no report twice');
  t.ok(
    [...sent].every((id) => ids.has(id)),
    'every report sent is in the export',
  );
  const json = JSON.parse(await read('/export/reports.json')) as Array<{ report_id: string }>;
  t.equal(json.length, SITES * RUNS);
  const ndjson = (await read('/export/pscheduler.ndjson'))
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l) as { test: { type: string }; result: Record<string, unknown> });
  t.equal(ndjson.length, SITES * RUNS * 3, 'pScheduler: throughput up, throughput down and latency per report');
  t.ok(
    ndjson.every((r) =>
      r.test.type === 'throughput'
        ? typeof (r.result['summary'] as { summary: { 'throughput-bits': number } }).summary['throughput-bits'] === 'number'
        : typeof r.result['packets-sent'] === 'number',
    ),
  );
  const status = JSON.parse(await read('/api/v1/status')) as { reports: number };
  t.equal(status.reports, SITES * RUNS);

  // signing out ends the session: the dashboard asks to sign in again
  await Promise.all([w.page.waitForURL(/\/login$/), w.page.click('[data-testid=sign-out]')]);
  await w.page.goto(`${collector.url}/`, { waitUntil: 'load' });
  t.match(w.page.url(), /\/login\?next=/, 'signed out, the dashboard is closed again');
});
