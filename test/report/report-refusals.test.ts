import t from 'tap';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { randomBytes } from 'node:crypto';
import { AccessStore } from '../../src/collector/auth/access-store.js';
import { CollectorServer } from '../../src/collector/collector-server.js';
import { ReportIntake } from '../../src/collector/report-intake.js';
import { SqlReportStore } from '../../src/collector/sql-report-store.js';
import { migratedSqlite } from '../fixtures/collector-database.js';
import { EnrolledKeys } from '../../src/report/enrolled-keys.js';
import { canonicalJson } from '../../src/report/canonical-json.js';
import { signReport } from '../../src/report/signing.js';
import { collectorClient } from '../../src/report/upload/collector-client.js';
import { CLI } from '../bridge/fixtures.js';
import { enrolmentOf, fixtureReport, newSigningKey } from '../fixtures/national-reports.js';

// A report with one byte changed, an unknown key, an expired or
// unenrolled appliance key, or malformed JSON is refused by `report verify` and by the
// collector, each with a precise reason; the collector keeps serving.

const log = pino({ level: 'silent' });

function verifyCli(file: string, keysFile: string): Promise<{ code: number; stderr: string; stdout: string }> {
  return new Promise((resolve) =>
    execFile(process.execPath, [CLI, 'report', 'verify', file, '--keys', keysFile, '--json'], (err, stdout, stderr) =>
      resolve({ code: err ? Number(err.code) : 0, stdout, stderr }),
    ),
  );
}

t.test('canonical JSON follows RFC 8785: sorted members, no whitespace, ES number forms', async (t) => {
  t.equal(
    canonicalJson({ b: [1, 'x', null, true], a: { d: 1e21, c: 0.1 }, '\u00e9': 1, Z: -0 }),
    '{"Z":0,"a":{"c":0.1,"d":1e+21},"b":[1,"x",null,true],"é":1}',
  );
  t.throws(() => canonicalJson({ x: Number.NaN }));
});

t.test('refusals, by report verify and by the collector, with their reasons', async (t) => {
  const dir = t.testdir();
  const appliance = newSigningKey();
  const expired = newSigningKey();
  const stranger = newSigningKey();
  const base = fixtureReport();
  const site = base['site'] as { appliance_id: string };
  const enrolments = [enrolmentOf(appliance, site.appliance_id), enrolmentOf(expired, 'usmp-retired', { enrolledAt: '2024-01-01', expiresAt: '2025-12-31' })];
  const keysFile = join(dir, 'appliances.json');
  writeFileSync(keysFile, JSON.stringify({ appliances: enrolments }));

  const good = signReport(base, appliance);
  const goodText = `${JSON.stringify(good, null, 2)}\n`;
  // one byte changed: a digit of the measured upload rate
  const up = String((good['measurements'] as { up_mbps: number }).up_mbps);
  const changedUp = up.replace(/\d(?=\D*$)/, (d) => String((Number(d) + 1) % 10));
  const oneByte = goodText.replace(`"up_mbps": ${up}`, `"up_mbps": ${changedUp}`);
  t.not(oneByte, goodText);
  t.equal(oneByte.length, goodText.length, 'exactly one byte differs');
  const retired = { ...base, started_at: '2026-05-31T10:00:00.000Z', site: { ...(base['site'] as object), appliance_id: 'usmp-retired' } };
  const cases: Array<{ name: string; text: string; code: string; reason: RegExp; status: number }> = [
    {
      name: 'one byte changed',
      text: oneByte,
      code: 'USMP_E_REPORT_SIGNATURE',
      reason: /signature by key [0-9a-f]{16} does not match the content/,
      status: 403,
    },
    {
      name: 'unknown key added',
      text: JSON.stringify({ ...good, verdict_override: 'pass' }),
      code: 'USMP_E_REPORT_SCHEMA',
      reason: /\(root\): unknown key "verdict_override"/,
      status: 422,
    },
    {
      name: 'unknown key in the site',
      text: JSON.stringify({ ...good, site: { ...(good['site'] as object), budget: 1 } }),
      code: 'USMP_E_REPORT_SCHEMA',
      reason: /\/site: unknown key "budget"/,
      status: 422,
    },
    {
      name: 'expired appliance key',
      text: JSON.stringify(signReport(retired, expired, new Date('2026-06-01T00:00:00Z'))),
      code: 'USMP_E_REPORT_KEY_EXPIRED',
      reason: /after key [0-9a-f]{16} of "usmp-retired" expired \(2025-12-31\)/,
      status: 403,
    },
    {
      name: 'unenrolled appliance key',
      text: JSON.stringify(signReport(base, stranger)),
      code: 'USMP_E_REPORT_KEY_UNKNOWN',
      reason: new RegExp(`signed by key ${stranger.keyId} \\(appliance "${site.appliance_id}"\\), which is not enrolled`),
      status: 403,
    },
    {
      name: 'malformed JSON',
      text: goodText.slice(0, goodText.length / 2),
      code: 'USMP_E_REPORT_MALFORMED',
      reason: /not a valid JSON document: /,
      status: 400,
    },
    { name: 'unsigned', text: JSON.stringify(base), code: 'USMP_E_REPORT_UNSIGNED', reason: /carries no signature/, status: 401 },
  ];

  const db = await migratedSqlite(join(dir, 'reports.sqlite'));
  const store = new SqlReportStore(db);
  const intake = new ReportIntake({ store, keys: () => new EnrolledKeys(enrolments), log, graceMs: 30 * 86_400_000 });
  const access = new AccessStore(db);
  const limits = { maxConnections: 64, requestsPerMinute: 1000 };
  const server = new CollectorServer({
    store,
    intake,
    access,
    log,
    behindProxy: false,
    maxReportBytes: 512 * 1024,
    cookieSecret: randomBytes(32),
    session: { idleMs: 60_000, absoluteMs: 600_000 },
    people: { host: '127.0.0.1', port: 0, ...limits },
    appliances: { host: '127.0.0.1', port: 0, ...limits },
  });
  await server.listen();
  const port = server.intakePort;
  t.teardown(async () => {
    await server.close();
    await db.close();
  });
  const post = collectorClient(`http://127.0.0.1:${port}`);

  for (const c of cases) {
    const file = join(dir, `${c.name.replace(/\W+/g, '-')}.json`);
    writeFileSync(file, c.text);
    const cli = await verifyCli(file, keysFile);
    t.equal(cli.code, 2, `${c.name}: report verify exits 2`);
    t.match(cli.stderr, new RegExp(`${c.code}: .*${c.reason.source}`), `${c.name}: report verify says ${c.code} and why`);
    t.equal((JSON.parse(cli.stdout) as { error: { code: string } }).error.code, c.code);
    const answer = await post(c.text);
    t.equal(answer.status, c.status, `${c.name}: the collector answers ${c.status}`);
    t.equal(answer.body.error?.code, c.code, `${c.name}: with the code`);
    t.match(answer.body.error?.reason, c.reason, `${c.name}: and the reason`);
  }

  const tooBig = await post(JSON.stringify({ ...good, padding: 'x'.repeat(600 * 1024) }));
  t.equal(tooBig.status, 413, 'an oversized report is refused before it is read');
  t.equal(tooBig.body.error?.code, 'USMP_E_REPORT_TOO_LARGE');

  // the collector kept serving: the genuine report goes in, once
  const file = join(dir, 'good.json');
  writeFileSync(file, goodText);
  const cli = await verifyCli(file, keysFile);
  t.equal(cli.code, 0, 'the genuine report verifies');
  t.match(JSON.parse(cli.stdout), { valid: true, key_id: appliance.keyId, enrolment_checked: true });
  t.equal((await post(goodText)).status, 201, 'stored');
  const again = await post(JSON.stringify(good));
  t.equal(again.status, 200, 'the same report again (re-indented) is a duplicate, not a second copy');
  t.equal(again.body.status, 'duplicate');
  const forged = signReport({ ...base, report_id: good['report_id'], verdict: 'fail' }, appliance);
  t.equal((await post(JSON.stringify(forged))).status, 409, 'another content under the same report_id is a conflict');
  t.equal(await store.count(), 1);
  t.match(intake.counters, { stored: 1, duplicates: 1, rejected: cases.length + 2 });
});
