import t from 'tap';
import { chmodSync } from 'node:fs';
import { AccessStore } from '../../src/collector/auth/access-store.js';
import { collectorClient } from '../../src/report/upload/collector-client.js';
import { until } from '../fixtures/bounded.js';
import { migratedSqlite } from '../fixtures/collector-database.js';
import { CollectorProcess } from '../fixtures/collector-process.js';
import { HttpsSession } from '../fixtures/https-session.js';
import { enrolmentOf, fixtureReport, siteFixture, siteReport } from '../fixtures/national-reports.js';
import { TestCa } from '../fixtures/test-pki.js';

// The people's door of the real collector over HTTPS: nothing answers a stranger, a regional
// reader finds no trace of another region anywhere (pages, reports, exports, API, counts),
// forms need their CSRF token, sign-in attempts are limited and logged without the password,
// tokens are shown once and die when revoked.

t.test('sessions expire when idle or old (AccessStore, injected clock)', async (t) => {
  const db = await migratedSqlite();
  t.teardown(() => db.close());
  const access = new AccessStore(db);
  const limits = { idleMs: 30 * 60_000, absoluteMs: 12 * 3_600_000 };
  const id = await access.createSession({ user: 'a', source: 'local', roles: [{ kind: 'national' }] }, 0);
  t.ok(await access.session(id, 29 * 60_000, limits), 'used within the idle time');
  t.ok(await access.session(id, 58 * 60_000, limits), 'each use restarts the idle time');
  t.notOk(await access.session(id, 58 * 60_000 + 30 * 60_000 + 1, limits), 'idle too long: gone');
  let last = 0;
  const busy = await access.createSession({ user: 'b', source: 'local', roles: [{ kind: 'national' }] }, 0);
  for (let at = 20 * 60_000; at <= 12 * 3_600_000; at += 20 * 60_000) last = (await access.session(busy, at, limits)) ? at : last;
  t.equal(last, 12 * 3_600_000, 'used every 20 minutes, it lives 12 hours');
  t.notOk(await access.session(busy, 12 * 3_600_000 + 1, limits), 'and not a millisecond more');
  t.notOk(await access.session('not-a-session', 0, limits));
});

t.test("the people's door", async (t) => {
  const dir = t.testdir();
  const ca = new TestCa('usmp test national CA');
  t.teardown(() => ca.cleanup());
  const certificate = ca.issue('127.0.0.1', 'IP:127.0.0.1');
  chmodSync(certificate.keyFile, 0o600);
  const bordeaux = siteFixture(10);
  const dijon = siteFixture(11);
  const collector = await CollectorProcess.start(
    CollectorProcess.configFile(dir, {
      enrolments: [bordeaux, dijon].map((s) => enrolmentOf(s.key, s.applianceId, { establishmentCode: s.code })),
      tls: certificate,
    }),
  );
  t.teardown(() => collector.stop());
  const post = collectorClient(collector.intakeUrl, ca.caFile, 10_000);
  const reports = [...[0, 1, 2].map((run) => siteReport(fixtureReport(), bordeaux, run)), ...[0, 1].map((run) => siteReport(fixtureReport(), dijon, run))];
  for (const r of reports) t.equal((await post(JSON.stringify(r))).status, 201);
  const bordeauxIds = reports.slice(0, 3).map((r) => r['report_id'] as string);
  const dijonIds = reports.slice(3).map((r) => r['report_id'] as string);
  t.match(reports[0]!['site'], { region: 'DISP Bordeaux' });
  t.match(reports[3]!['site'], { region: 'DISP Dijon' });

  const passwords = {
    national: await collector.addUser('national-team', ['national']),
    dijon: await collector.addUser('disp-dijon', ['region:DISP Dijon']),
  };
  const signIn = async (user: string, password: string): Promise<HttpsSession> => {
    const s = new HttpsSession(collector.url, ca.caPem);
    const login = await s.get('/login');
    const answer = await s.post('/login', { _csrf: HttpsSession.csrfOf(login.body), username: user, password, next: '/' });
    t.equal(answer.status, 303, `${user} signs in`);
    t.equal(answer.headers.location, '/');
    return s;
  };

  t.test('nothing answers a stranger but /health and the sign-in page', async (t) => {
    const stranger = new HttpsSession(collector.url, ca.caPem);
    t.same(JSON.parse((await stranger.get('/health')).body), { status: 'ok' }, '/health says nothing about the reports');
    for (const path of ['/', `/sites/${dijon.code}`, '/account']) {
      const answer = await stranger.get(path);
      t.equal(answer.status, 303, `${path}: to the login page`);
      t.equal(answer.headers.location, `/login?next=${encodeURIComponent(path)}`);
    }
    for (const path of [
      `/reports/${dijonIds[0]}.json`,
      `/reports/${dijonIds[0]}.html`,
      '/export/reports.csv',
      '/export/reports.json',
      '/export/pscheduler.ndjson',
      '/export/places.csv',
      '/api/v1/sites',
      '/api/v1/status',
    ]) {
      const answer = await stranger.get(path);
      t.equal(answer.status, 401, `${path}: 401`);
      t.match(JSON.parse(answer.body), { error: { code: 'USMP_E_UNAUTHENTICATED' } });
      t.notMatch(answer.body, /0900011X|0900010X/, `${path}: no site in the refusal`);
    }
    t.equal(
      (await stranger.get('/export/reports.csv', { authorization: 'Bearer usmpc_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' })).status,
      401,
      'a made-up token: 401',
    );
  });

  t.test('a DISP Dijon reader finds no trace of Bordeaux anywhere', async (t) => {
    const s = await signIn('disp-dijon', passwords.dijon);
    const session = s.setCookies.find((c) => c.startsWith('__Host-usmp_session='))!;
    t.match(session, /; Path=\//);
    t.match(session, /; HttpOnly/);
    t.match(session, /; Secure/);
    t.match(session, /; SameSite=Lax/);
    const traces = [bordeaux.code, 'DISP Bordeaux', 'n° 10<', ...bordeauxIds];
    const noTrace = (what: string, text: string) =>
      t.notOk(
        traces.some((x) => text.includes(x)),
        `${what}: no trace of Bordeaux`,
      );
    const dashboard = await s.get('/');
    t.equal(dashboard.status, 200);
    t.match(dashboard.body, new RegExp(dijon.code), 'the dashboard shows Dijon');
    t.match(dashboard.body, /data-testid="site-total">1</, 'a total of one site');
    noTrace('the dashboard (rows, totals, region filter)', dashboard.body);
    noTrace('the dashboard filtered on Bordeaux', (await s.get('/?region=DISP%20Bordeaux')).body);
    t.equal((await s.get(`/sites/${bordeaux.code}`)).status, 404, 'the Bordeaux site page: as if it did not exist');
    t.equal((await s.get(`/sites/${dijon.code}`)).status, 200);
    for (const id of bordeauxIds) {
      t.equal((await s.get(`/reports/${id}.json`)).status, 404, 'a Bordeaux report (JSON): 404');
      t.equal((await s.get(`/reports/${id}.html`)).status, 404, 'a Bordeaux report (page): 404');
    }
    t.equal((await s.get(`/reports/${dijonIds[0]}.html`)).status, 200);
    const csv = (await s.get('/export/reports.csv')).body;
    t.equal(csv.trimEnd().split('\r\n').length, 1 + dijonIds.length, 'the CSV holds the Dijon reports only');
    noTrace('the CSV export', csv);
    noTrace('the JSON export', (await s.get('/export/reports.json')).body);
    const ndjson = (await s.get('/export/pscheduler.ndjson')).body;
    noTrace('the pScheduler export', ndjson);
    t.equal(ndjson.trimEnd().split('\n').length, 3 * dijonIds.length);
    const api = JSON.parse((await s.get('/api/v1/sites')).body) as { total: number; verdicts: Record<string, number>; sites: unknown[] };
    t.equal(api.total, 1, 'the API counts one site');
    t.equal(
      Object.values(api.verdicts).reduce((a, b) => a + b, 0),
      1,
      'verdict counts: one site',
    );
    const status = JSON.parse((await s.get('/api/v1/status')).body) as Record<string, unknown>;
    t.same(status, { status: 'ok', reports: dijonIds.length }, "the status counts Dijon's reports, and no intake totals");

    const national = await signIn('national-team', passwords.national);
    const all = JSON.parse((await national.get('/api/v1/status')).body) as { reports: number; intake: { stored: number } };
    t.equal(all.reports, reports.length, 'a national reader counts every report');
    t.equal(all.intake.stored, reports.length);
  });

  t.test('forms need their CSRF token; sign-out ends the session', async (t) => {
    const s = await signIn('disp-dijon', passwords.dijon);
    const noToken = await s.post('/logout', {});
    t.equal(noToken.status, 403, 'sign-out without the token: 403');
    t.match(JSON.parse(noToken.body), { error: { code: 'USMP_E_FORBIDDEN' } });
    const forged = await s.post('/account/tokens', { _csrf: 'forged', label: 'x' });
    t.equal(forged.status, 403, 'a made-up token: 403');
    t.equal((await s.get('/')).status, 200, 'still signed in');
    const page = await s.get('/');
    const out = await s.post('/logout', { _csrf: HttpsSession.csrfOf(page.body) });
    t.equal(out.status, 303);
    t.equal((await s.get('/')).status, 303, 'signed out: back to the login page');
    const stranger = new HttpsSession(collector.url, ca.caPem);
    const loginPage = await stranger.get('/login');
    t.equal((await stranger.post('/login', { username: 'disp-dijon', password: passwords.dijon })).status, 403, "sign-in without the form's token: 403");
    const redirected = await stranger.post('/login', {
      _csrf: HttpsSession.csrfOf(loginPage.body),
      username: 'disp-dijon',
      password: passwords.dijon,
      next: '//attacker.invalid/',
    });
    t.equal(redirected.headers.location, '/', 'next= never leads to another host');
  });

  t.test('tokens: made on the account page, shown once, dead when revoked', async (t) => {
    const s = await signIn('disp-dijon', passwords.dijon);
    const account = await s.get('/account');
    const made = await s.post('/account/tokens', { _csrf: HttpsSession.csrfOf(account.body), label: 'Grafana Dijon' });
    const token = /data-testid="new-token">(usmpc_[^<]+)</.exec(made.body)?.[1];
    t.ok(token, 'the token is shown');
    const bearer = { authorization: `Bearer ${token!}` };
    const reader = new HttpsSession(collector.url, ca.caPem);
    const csv = await reader.get('/export/reports.csv', bearer);
    t.equal(csv.status, 200, 'it opens the exports');
    t.notMatch(csv.body, new RegExp(bordeaux.code), "with its user's scope");
    t.equal((await reader.get('/', bearer)).status, 401, 'but not the pages');
    const again = await s.get('/account');
    t.notMatch(again.body, new RegExp(token!.slice(-20)), 'never shown again');
    const id = /data-token="([0-9a-f]{16})"/.exec(again.body)![1]!;
    t.equal((await s.post(`/account/tokens/${id}/revoke`, { _csrf: HttpsSession.csrfOf(again.body) })).status, 303);
    t.equal((await reader.get('/export/reports.csv', bearer)).status, 401, 'revoked: 401');
  });

  t.test('sign-in attempts are limited per account, and logged without the password', async (t) => {
    const attacker = new HttpsSession(collector.url, ca.caPem);
    const wrong = 'not-the-password-1234';
    const statuses: number[] = [];
    let last = '';
    for (let i = 0; i < 6; i++) {
      const page = await attacker.get('/login');
      const answer = await attacker.post('/login', {
        _csrf: HttpsSession.csrfOf(page.body),
        username: 'national-team',
        password: i < 5 ? wrong : passwords.national,
      });
      statuses.push(answer.status);
      last = answer.body;
    }
    t.same(statuses, [401, 401, 401, 401, 401, 429], 'after 5 failures even the right password waits');
    t.match(last, /data-code="USMP_E_SIGN_IN_LIMITED"/, 'the page says why, with its code');
    const failures = () => collector.logLines.filter((l) => l['event'] === 'collector.sign_in_failed' && l['user'] === 'national-team');
    // the collector's log reaches the test through a pipe, a moment after the answer
    await until('six sign_in_failed log lines', 10_000, () => failures().length >= 6);
    t.equal(failures().length, 6);
    t.match(failures()[0], { source: 'local', remote: '127.0.0.1', reason: 'wrong_password' });
    t.notOk(
      collector.logLines.some((l) => JSON.stringify(l).includes(wrong) || JSON.stringify(l).includes(passwords.national)),
      'no log line holds a password',
    );
  });
});
