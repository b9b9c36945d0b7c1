import t from 'tap';
import { freeTcpPorts } from '../../src/exec/ports.js';
import { chmodSync } from 'node:fs';
import { get } from 'node:https';
import { join } from 'node:path';
import { readdirSync, readFileSync, utimesSync } from 'node:fs';
import { pino } from 'pino';
import { collectorClient } from '../../src/report/upload/collector-client.js';
import { ReportOutbox } from '../../src/report/upload/report-outbox.js';
import { ReportUploader } from '../../src/report/upload/report-uploader.js';
import { until } from '../fixtures/bounded.js';
import { CollectorProcess } from '../fixtures/collector-process.js';
import { enrolmentOf, fixtureReport, siteFixture, siteReport } from '../fixtures/national-reports.js';
import { TestCa } from '../fixtures/test-pki.js';

// Collector stopped for a while: appliances' reports queue up and all
// arrive once it is back, none twice. Also: the outbox survives a restart of the appliance,
// a refused report is set aside with its reason, an old one expires.

const log = pino({ level: 'silent' });

/** GET over HTTPS trusting `ca` (fetch cannot be given a CA on Node 20), with a bearer token. */
function getText(url: string, ca: string, token: string): Promise<string> {
  return new Promise((resolve, reject) => {
    get(url, { ca, headers: { authorization: `Bearer ${token}` } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
}

t.test('reports queue while the collector is away and all arrive once, after restarts on both sides', async (t) => {
  const dir = t.testdir();
  const base = fixtureReport();
  const sites = [siteFixture(1), siteFixture(2), siteFixture(3)];
  const port = (await freeTcpPorts(1))[0]!;
  // HTTPS, as in the field: the collector's certificate from a CA the appliances are given
  const ca = new TestCa('usmp test national CA');
  t.teardown(() => ca.cleanup());
  const certificate = ca.issue('127.0.0.1', 'IP:127.0.0.1');
  chmodSync(certificate.keyFile, 0o600);
  const url = `https://127.0.0.1:${port}`;
  const configFile = CollectorProcess.configFile(dir, {
    enrolments: sites.map((s) => enrolmentOf(s.key, s.applianceId, { establishmentCode: s.code })),
    intakeListen: `127.0.0.1:${port}`,
    tls: certificate,
  });
  const uploaders: ReportUploader[] = [];
  const outboxes = sites.map((s) => new ReportOutbox(join(dir, `outbox-${s.applianceId}`)));
  const makeUploader = (i: number, caFile = ca.caFile) =>
    new ReportUploader({ outbox: outboxes[i]!, post: collectorClient(url, caFile, 5000), log, expiryDays: 30, retryMinS: 0.2, retryMaxS: 1 });
  const sent: string[] = [];

  // the collector is down: every appliance queues 10 reports, its uploader retrying
  sites.forEach((site, i) => {
    for (let run = 0; run < 10; run++) {
      const report = siteReport(base, site, run);
      sent.push(outboxes[i]!.enqueue(JSON.stringify(report)));
    }
    const uploader = makeUploader(i);
    uploaders.push(uploader);
    uploader.start();
  });
  t.teardown(() => Promise.all(uploaders.map((u) => u.stop())));
  await new Promise((r) => setTimeout(r, 1500));
  t.same(
    outboxes.map((o) => o.count()),
    [10, 10, 10],
    'nothing lost while the collector is away',
  );

  // one appliance restarts meanwhile: a new uploader on the same outbox directory
  await uploaders[0]!.stop();
  uploaders[0] = makeUploader(0);
  uploaders[0].start();

  let collector = await CollectorProcess.start(configFile);
  t.teardown(() => collector.stop());
  t.equal(collector.intakeUrl, url, "the collector's intake serves HTTPS");
  await collector.addUser('national-team', ['national']);
  const token = await collector.token('national-team');
  const read = async (path: string) => getText(`${collector.url}${path}`, ca.caPem, token);
  await until('the outboxes to drain', 20_000, () => outboxes.every((o) => o.count() === 0));
  let status = JSON.parse(await read('/api/v1/status')) as { reports: number };
  t.equal(status.reports, 30, 'all 30 reports arrived');

  // the collector goes away again (killed), a report is queued, it comes back
  await collector.stop('SIGKILL');
  const late = siteReport(base, sites[1]!, 10);
  sent.push(outboxes[1]!.enqueue(JSON.stringify(late)));
  uploaders[1]!.nudge();
  await new Promise((r) => setTimeout(r, 800));
  t.equal(outboxes[1]!.count(), 1, 'queued again while the collector is down');
  collector = await CollectorProcess.start(configFile);
  await until('the late report', 20_000, () => outboxes[1]!.count() === 0);

  // an appliance that never heard the answer sends the same report again: stored once
  const extra = siteReport(base, sites[2]!, 11);
  outboxes[2]!.enqueue(JSON.stringify(extra));
  const pass1 = await makeUploader(2).runOnce();
  outboxes[2]!.enqueue(JSON.stringify(extra));
  const pass2 = await makeUploader(2).runOnce();
  t.equal(pass1.delivered, 1);
  t.equal(pass2.duplicates, 1, 'the collector answers "duplicate" and the appliance deletes its copy');
  sent.push(extra['report_id'] as string);

  // an appliance that does not trust the collector's certificate keeps its report
  const stranger = new TestCa('someone else');
  t.teardown(() => stranger.cleanup());
  const untrusting = siteReport(base, sites[0]!, 12);
  outboxes[0]!.enqueue(JSON.stringify(untrusting));
  const refusedPass = await makeUploader(0, stranger.caFile).runOnce();
  t.match(refusedPass, { delivered: 0, left: 1 }, 'a collector certificate from another CA: not sent, still queued');
  t.match(refusedPass.error, /certificate|self.signed|issuer/i, `and why: ${refusedPass.error}`);
  await makeUploader(0).runOnce();
  sent.push(untrusting['report_id'] as string);

  status = JSON.parse(await read('/api/v1/status')) as { reports: number };
  t.equal(status.reports, 33, 'every report once');
  const csv = (await read('/export/reports.csv')).trimEnd().split('\r\n').slice(1);
  const ids = csv.map((l) => l.split(',')[0]!);
  t.equal(new Set(ids).size, ids.length, 'none twice');
  t.ok(
    sent.every((id) => ids.includes(id)),
    'every report queued arrived',
  );
});

t.test('a refused report is set aside with the reason, an old one expires', async (t) => {
  const dir = t.testdir();
  const site = siteFixture(9);
  const stranger = siteFixture(10);
  const collector = await CollectorProcess.start(
    CollectorProcess.configFile(dir, { enrolments: [enrolmentOf(site.key, site.applianceId, { establishmentCode: site.code })] }),
  );
  t.teardown(() => collector.stop());
  const outbox = new ReportOutbox(join(dir, 'outbox'));
  const refused = outbox.enqueue(JSON.stringify(siteReport(fixtureReport(), stranger, 0)));
  const old = outbox.enqueue(JSON.stringify(siteReport(fixtureReport(), site, 1)));
  const fresh = outbox.enqueue(JSON.stringify(siteReport(fixtureReport(), site, 2)));
  const oldFile = outbox.pending().find((p) => p.id === old)!;
  const fortyDaysAgo = new Date(Date.now() - 40 * 86_400_000);
  utimesSync(oldFile.path, fortyDaysAgo, fortyDaysAgo);
  const result = await new ReportUploader({ outbox, post: collectorClient(collector.intakeUrl), log, expiryDays: 30, retryMinS: 1, retryMaxS: 1 }).runOnce();
  t.match(result, { delivered: 1, rejected: 1, expired: 1, left: 0 });
  t.same(readdirSync(join(dir, 'outbox', 'rejected')).sort(), [`${refused}.json`, `${refused}.reason.txt`]);
  t.match(
    readFileSync(join(dir, 'outbox', 'rejected', `${refused}.reason.txt`), 'utf8'),
    /USMP_E_REPORT_KEY_UNKNOWN: signed by key [0-9a-f]{16} \(appliance "usmp-010"\), which is not enrolled/,
  );
  t.same(readdirSync(join(dir, 'outbox', 'expired')).sort(), [`${old}.json`, `${old}.reason.txt`]);
  t.ok(fresh);
  t.equal(outbox.count(), 0);
});
