import t from 'tap';
import { chmodSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { collectorClient } from '../../src/report/upload/collector-client.js';
import { browserUnavailableReason, launchBrowser, watchedPage } from '../fixtures/browser.js';
import { until } from '../fixtures/bounded.js';
import { CollectorProcess } from '../fixtures/collector-process.js';
import { httpsGet } from '../fixtures/https-get.js';
import { enrolmentOf, fixtureReport, siteFixture, siteReport } from '../fixtures/national-reports.js';
import { alertOf, heartbeatOf, PROFILE_LIMITS, signed, summaryOf, telemetrySite } from '../fixtures/telemetry-documents.js';
import { TestCa } from '../fixtures/test-pki.js';

// The live fleet in Chromium, from a real collector fed signed telemetry over HTTPS: the grid's
// figures are those of the summaries sent (the worst hourly p95 of the last 24 hours, minutes
// degraded summed), each cell coloured against the site's limits, a silent appliance flagged;
// a site's timeline draws its 30 days and lists its alerts. No console error, no request
// outside the collector. Screenshots for the docs with USMP_EDGE_SCREENSHOTS.

const unavailable = browserUnavailableReason();
const SHOTS = process.env['USMP_EDGE_SCREENSHOTS'];
const HOUR = 3_600_000;

t.test('grid, timeline and silence in the browser', unavailable ? { skip: unavailable } : {}, async (t) => {
  const dir = t.testdir();
  const shots = SHOTS ?? join(dir, 'shots');
  mkdirSync(shots, { recursive: true });
  const sites = Array.from({ length: 6 }, (_, i) => siteFixture(700 + i));
  const ca = new TestCa('usmp test national CA');
  t.teardown(() => ca.cleanup());
  const certificate = ca.issue('127.0.0.1', 'IP:127.0.0.1');
  chmodSync(certificate.keyFile, 0o600);
  const silentAfterS = 4;
  const collector = await CollectorProcess.start(
    CollectorProcess.configFile(dir, {
      enrolments: sites.map((s) => enrolmentOf(s.key, s.applianceId, { establishmentCode: s.code, region: telemetrySite(s).region })),
      tls: certificate,
      extra: { intake_requests_per_minute: 1_000_000, silent_after_minutes: silentAfterS / 60 },
    }),
  );
  t.teardown(() => collector.stop());
  const password = await collector.addUser('national-team', ['national']);
  const post = collectorClient(collector.intakeUrl, ca.caFile);
  const sequence = new Map(sites.map((s) => [s.code, 0]));
  const send = async (site: (typeof sites)[number], make: (seq: number) => object) => {
    const seq = sequence.get(site.code)! + 1;
    sequence.set(site.code, seq);
    const answer = await post(JSON.stringify(signed(make(seq), site.key)));
    if (answer.status !== 201) throw new Error(`${answer.status} ${JSON.stringify(answer.body)}`);
  };

  // 30 days of hours; site 1 degraded every afternoon (RTT p95 past its profile's 100 ms), site 2 lossy
  const now = Date.now();
  const lastHour = Math.floor(now / HOUR) * HOUR - HOUR;
  const sent = new Map<string, Array<{ hourStart: number; p95: number; degraded: number; calls: number; poor: number; attempts: number }>>();
  for (const [i, site] of sites.entries()) {
    const hours: Array<{ hourStart: number; p95: number; degraded: number; calls: number; poor: number; attempts: number }> = [];
    for (let h = 30 * 24 - 1; h >= 0; h--) {
      const hourStart = lastHour - h * HOUR;
      const afternoon = new Date(hourStart).getUTCHours() >= 13 && new Date(hourStart).getUTCHours() <= 16;
      const p95 = i === 1 && afternoon ? 180 + (h % 7) : 20 + ((h * 7 + i) % 13);
      const degraded = i === 1 && afternoon ? 20 : 0;
      // site 1 carries consultations: a few calls some hours, some graded poor, and attempts
      const calls = i === 1 ? h % 3 : 0;
      const poor = calls > 0 && h % 5 === 0 ? 1 : 0;
      const attempts = i === 1 && h % 4 === 0 ? 1 : 0;
      hours.push({ hourStart, p95, degraded, calls, poor, attempts });
      const counts = { calls, attempts, minutes: calls * 25, good: calls - poor, fair: 0, poor };
      await send(site, (seq) =>
        summaryOf(site, seq, hourStart, {
          rtt_ms: { median: 12, p95 },
          degraded_minutes: { overall: degraded, rtt_ms: degraded },
          loss_pct: { up: i === 2 ? 2.5 : 0, down: 0 },
          availability_pct: 100,
          calls: counts,
        }),
      );
    }
    sent.set(site.code, hours);
  }
  for (const k of [3, 2, 1]) await send(sites[1]!, (seq) => alertOf(sites[1]!, seq, now - k * HOUR, k === 2 ? 'cleared' : 'raised'));
  // every appliance heartbeats; then all but the last go on while the last falls silent
  for (const site of sites) await send(site, (seq) => heartbeatOf(site, seq, Date.now(), { version: site === sites[5] ? '0.0.9' : '0.1.0' }));
  const beating = setInterval(
    () => void Promise.all(sites.slice(0, 5).map((s) => send(s, (seq) => heartbeatOf(s, seq, Date.now())))).catch(() => undefined),
    1000,
  );
  t.teardown(() => clearInterval(beating));
  await until('the last appliance flagged silent', 30_000, () =>
    collector.logLines.some((l) => l['event'] === 'collector.appliance_silent' && l['site'] === sites[5]!.code),
  );

  const browser = await launchBrowser();
  t.teardown(() => browser.close());
  const w = await watchedPage(browser, { ignoreHTTPSErrors: true });
  await w.page.goto(`${collector.url}/login?next=%2Ffleet`, { waitUntil: 'load' });
  await w.page.fill('input[name=username]', 'national-team');
  await w.page.fill('input[name=password]', password);
  await Promise.all([w.page.waitForURL(`${collector.url}/fleet`), w.page.click('[data-testid=login-form] button[type=submit]')]);
  clearInterval(beating);
  const row = (site: (typeof sites)[number]) => w.page.locator(`[data-testid=fleet-grid] tr[data-site="${site.code}"]`);
  t.equal(await w.page.locator('[data-testid=fleet-grid] tbody tr').count(), 6, 'a row per site');
  for (const site of sites) {
    const last24 = sent.get(site.code)!.filter((x) => x.hourStart >= now - 24 * HOUR);
    const worst = Math.max(...last24.map((x) => x.p95));
    t.equal(
      Number(await row(site).locator('[data-metric=rtt_p95]').getAttribute('data-value')),
      worst,
      `${site.code}: RTT p95 24 h is the worst hour sent (${worst} ms)`,
    );
    t.equal(
      Number(await row(site).locator('[data-metric=degraded]').getAttribute('data-value')),
      last24.reduce((n, x) => n + x.degraded, 0),
      `${site.code}: minutes degraded summed`,
    );
  }
  t.equal(await row(sites[1]!).locator('[data-metric=rtt_p95]').getAttribute('data-colour'), 'bad', "past the profile's RTT limit: red");
  t.equal(await row(sites[0]!).locator('[data-metric=rtt_p95]').getAttribute('data-colour'), 'ok', 'within it: green');
  t.equal(
    await row(sites[2]!).locator('[data-metric=loss]').getAttribute('data-colour'),
    'bad',
    `2.5 % loss against a ${PROFILE_LIMITS.loss_pct} % limit: red`,
  );
  t.equal(await row(sites[5]!).getAttribute('data-silent'), 'true', 'the silent appliance is flagged');
  t.equal(await row(sites[5]!).locator('[data-metric=heartbeat]').getAttribute('data-colour'), 'bad');
  t.equal(await w.page.locator('[data-testid=fleet-grid] tr[data-silent=true]').count(), 1, 'and only it');
  const hoursOf1 = sent.get(sites[1]!.code)!;
  const monthOf = (ms: number) => new Date(ms).toISOString().slice(0, 7);
  const callsIn = (month: string) => hoursOf1.filter((x) => monthOf(x.hourStart) === month).reduce((n, x) => n + x.calls, 0);
  t.equal(
    Number(await row(sites[1]!).locator('[data-metric=calls_month]').getAttribute('data-value')),
    callsIn(monthOf(now)),
    `the grid: this month's calls as sent (${callsIn(monthOf(now))})`,
  );
  await w.page.screenshot({ path: join(shots, 'fleet-grid.png'), fullPage: true });

  await w.page.click(`[data-testid=fleet-grid] tr[data-site="${sites[1]!.code}"] a`);
  await w.page.waitForURL(/\/fleet\/sites\//);
  t.equal(await w.page.locator('[data-testid=timeline-rtt] svg').count(), 1, 'the RTT chart is drawn');
  t.equal(await w.page.locator('[data-testid=timeline-loss] svg').count(), 1, 'the loss and availability chart is drawn');
  t.equal(await w.page.locator('[data-testid=timeline-alerts] tr').count(), 3, 'its three alerts are listed');
  for (const month of [...new Set(hoursOf1.map((x) => monthOf(x.hourStart)))]) {
    const cells = w.page.locator(`[data-testid=calls-by-month] tr[data-month="${month}"]`);
    t.equal(Number(await cells.locator('[data-metric=calls]').textContent()), callsIn(month), `the site page: ${month}, ${callsIn(month)} calls`);
    t.equal(
      Number(await cells.locator('[data-metric=attempts]').textContent()),
      hoursOf1.filter((x) => monthOf(x.hourStart) === month).reduce((n, x) => n + x.attempts, 0),
      `${month}: attempts`,
    );
  }
  await w.page.screenshot({ path: join(shots, 'fleet-timeline.png'), fullPage: true });
  await w.page.goto(`${w.page.url().split('?')[0]}?range=12m&lang=fr`, { waitUntil: 'load' });
  t.equal(await w.page.locator('[data-testid=timeline-rtt] svg').count(), 1, 'the 12-month view too');
  await w.page.goto(`${collector.url}/fleet/versions`, { waitUntil: 'load' });
  t.match(await w.page.textContent('[data-testid=versions]'), /0\.0\.9/, 'the version inventory names the old release');
  // the follow-up table export carries each site's live figures
  const report = siteReport(fixtureReport(), sites[1]!, 1);
  t.equal((await post(JSON.stringify(report))).status, 201);
  const token = await collector.token('national-team');
  const csv = (await httpsGet(`${collector.url}/export/reports.csv`, ca.caPem, 30_000, { authorization: `Bearer ${token}` })).body.trim().split('\r\n');
  const header = csv[0]!.split(',');
  const line = csv[1]!.split(',');
  const cell = (name: string) => line[header.indexOf(name)];
  const degradedHours =
    sent
      .get(sites[1]!.code)!
      .filter((x) => x.hourStart >= Math.floor((now - 30 * 86_400_000) / 86_400_000) * 86_400_000)
      .reduce((n, x) => n + x.degraded, 0) / 60;
  t.equal(Number(cell('hours_degraded_30d')), Math.round(degradedHours * 100) / 100, `hours degraded over 30 days: ${degradedHours}`);
  t.equal(Number(cell('availability_30d_pct')), 100);
  t.ok(Date.parse(cell('last_heartbeat_at')!) > now - 120_000, 'the last heartbeat');
  const total = hoursOf1.reduce((n, x) => n + x.calls, 0);
  const poorTotal = hoursOf1.reduce((n, x) => n + x.poor, 0);
  t.equal(Number(cell('acts_calls_365d')), total, `the acts: ${total} calls`);
  t.equal(Number(cell('acts_minutes_365d')), total * 25);
  t.equal(Number(cell('acts_poor_pct_365d')), Math.round((1000 * poorTotal) / total) / 10);
  t.match(cell('acts_source'), /calls seen on the network/, 'the export says what the acts are');
  t.same(w.consoleErrors, [], 'no console error');
  t.ok(
    w.requests.every((u) => u.startsWith(collector.url)),
    'no request outside the collector',
  );
});
