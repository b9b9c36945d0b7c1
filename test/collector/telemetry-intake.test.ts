import t from 'tap';
import { pino } from 'pino';
import { ReportIntake } from '../../src/collector/report-intake.js';
import { SqlReportStore } from '../../src/collector/sql-report-store.js';
import { SqlTelemetryStore } from '../../src/collector/sql-telemetry-store.js';
import { EVERY_SITE } from '../../src/collector/report-store.js';
import { EnrolledKeys } from '../../src/report/enrolled-keys.js';
import { migratedSqlite } from '../fixtures/collector-database.js';
import { enrolmentOf, siteFixture } from '../fixtures/national-reports.js';
import { alertOf, heartbeatOf, signed, summaryOf, telemetrySite } from '../fixtures/telemetry-documents.js';

// Telemetry at the collector's door: verified as reports are (enrolled key, the key's own
// appliance, establishment and region, schema, signature, dates). Each forged or broken
// document gets its coded refusal and leaves the store as it was; the genuine ones are taken,
// each once.

t.test('telemetry at the intake: taken once when genuine, refused with its code otherwise', async (t) => {
  const db = await migratedSqlite();
  t.teardown(() => db.close());
  const telemetry = new SqlTelemetryStore(db);
  const [a, b] = [siteFixture(500), siteFixture(501)];
  const keys = new EnrolledKeys([a, b].map((s) => enrolmentOf(s.key, s.applianceId, { establishmentCode: s.code, region: telemetrySite(s).region })));
  const now = new Date();
  const intake = new ReportIntake({ store: new SqlReportStore(db), telemetry, keys: () => keys, log: pino({ level: 'silent' }), graceMs: 0, now: () => now });
  const post = (document: object) => intake.accept(JSON.stringify(document), '198.18.0.9');
  const at = now.getTime() - 60_000;

  const genuine = signed(heartbeatOf(a, 1, at), a.key);
  t.match(await post(genuine), { status: 201, body: { status: 'stored' } }, 'a genuine heartbeat');
  t.match(await post(genuine), { status: 200, body: { status: 'duplicate' } }, 'the same again: a duplicate');
  t.match(await post(signed(summaryOf(a, 2, Math.floor(at / 3_600_000) * 3_600_000 - 3_600_000), a.key)), { status: 201 }, 'a genuine hourly summary');
  t.match(await post(signed(alertOf(a, 3, at), a.key)), { status: 201 }, 'a genuine alert');

  const other = heartbeatOf(a, 4, at);
  const cases: Array<{ name: string; document: object; status: number; code: string; reason: RegExp }> = [
    {
      name: 'for another establishment',
      document: signed({ ...other, site: { ...other.site, establishment_code: b.code } }, a.key),
      status: 403,
      code: 'USMP_E_REPORT_WRONG_SITE',
      reason: /speaks for establishment/,
    },
    {
      name: 'for another region',
      document: signed({ ...other, site: { ...other.site, region: 'Outre-mer' } }, a.key),
      status: 403,
      code: 'USMP_E_REPORT_WRONG_SITE',
      reason: /in region/,
    },
    {
      name: 'as another appliance',
      document: signed({ ...other, site: telemetrySite(b) }, a.key),
      status: 403,
      code: 'USMP_E_REPORT_KEY_UNKNOWN',
      reason: /enrolled for appliance/,
    },
    {
      name: 'changed after signing',
      document: { ...signed(other, a.key), heartbeat: { ...other.heartbeat, hospital_connected: false } },
      status: 403,
      code: 'USMP_E_REPORT_SIGNATURE',
      reason: /changed after it was signed/,
    },
    {
      name: 'an unknown member',
      document: signed({ ...other, heartbeat: { ...other.heartbeat, shell: 'rm -rf /' } }, a.key),
      status: 422,
      code: 'USMP_E_REPORT_SCHEMA',
      reason: /\/heartbeat: unknown key "shell"/,
    },
    {
      name: 'a message of 10 000 characters',
      document: signed({ ...alertOf(a, 6, at), alert: { ...alertOf(a, 6, at).alert, message: 'x'.repeat(10_000) } }, a.key),
      status: 422,
      code: 'USMP_E_REPORT_SCHEMA',
      reason: /\/alert\/message: must NOT have more than 500 characters/,
    },
    {
      name: 'an unknown kind',
      document: signed({ ...other, document: 'exploit' }, a.key),
      status: 422,
      code: 'USMP_E_REPORT_SCHEMA',
      reason: /\/document: must be one of heartbeat, hourly_summary, alert/,
    },
    { name: 'unsigned', document: other, status: 401, code: 'USMP_E_REPORT_UNSIGNED', reason: /telemetry document carries no signature/ },
    {
      name: 'signed by a key nobody enrolled',
      document: signed(other, siteFixture(999).key),
      status: 403,
      code: 'USMP_E_REPORT_KEY_UNKNOWN',
      reason: /not enrolled/,
    },
    {
      name: 'measured after it was signed',
      document: signed({ ...other, at: new Date(now.getTime() + 3_600_000).toISOString() }, a.key, now),
      status: 422,
      code: 'USMP_E_REPORT_TIME',
      reason: /after it was signed/,
    },
    {
      name: 'signed in the future',
      document: signed({ ...other }, a.key, new Date(now.getTime() + 3_600_000)),
      status: 422,
      code: 'USMP_E_REPORT_TIME',
      reason: /in the future/,
    },
    {
      name: 'a negative sequence',
      document: signed({ ...other, sequence: -1 }, a.key),
      status: 422,
      code: 'USMP_E_REPORT_SCHEMA',
      reason: /\/sequence: must be >= 0/,
    },
  ];
  for (const c of cases) {
    const answer = await post(c.document);
    t.equal(answer.status, c.status, `${c.name}: ${c.status}`);
    const error = (answer.body as { error?: { code: string; reason: string } }).error;
    t.equal(error?.code, c.code, `${c.name}: ${c.code}`);
    t.match(error?.reason, c.reason, `${c.name}: its reason`);
  }
  t.match(
    await intake.accept('{"document":"heartbeat",'.repeat(1) + '[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}', '198.18.0.9'),
    { status: 400, body: { error: { code: 'USMP_E_REPORT_MALFORMED' } } },
    'nested too deep: malformed',
  );

  const grid = await telemetry.scoped(EVERY_SITE).grid({ nowMs: now.getTime() });
  t.same(
    grid.map((r) => r.site_key),
    [a.code],
    'only the genuine site is on the grid',
  );
  t.equal(grid[0]!.region, telemetrySite(a).region, 'under its enrolled region');
  const counts = await db.one<{ h: number; s: number; a: number }>(
    'SELECT (SELECT COUNT(*) FROM heartbeats) AS h, (SELECT COUNT(*) FROM hourly) AS s, (SELECT COUNT(*) FROM fleet_alerts) AS a',
  );
  t.same(counts, { h: 1, s: 1, a: 1 }, 'the store holds the genuine documents, each once');
});
