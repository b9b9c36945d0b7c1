import t from 'tap';
import { freeTcpPorts } from '../../src/exec/ports.js';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { collectorClient } from '../../src/report/upload/collector-client.js';
import { browserUnavailableReason, launchBrowser, watchedPage } from '../fixtures/browser.js';
import { until } from '../fixtures/bounded.js';
import { CollectorProcess } from '../fixtures/collector-process.js';
import { HttpsSession } from '../fixtures/https-session.js';
import { enrolmentOf, fixtureReport, siteFixture, siteReport } from '../fixtures/national-reports.js';
import { TEST_SCOPES, TestOpenIdProvider } from '../fixtures/openid-provider.js';
import { TestCa } from '../fixtures/test-pki.js';

// Sign-in through OpenID Connect, in Chromium, against a real OpenID Provider (oidc-provider)
// started here: authorization code with PKCE, state and nonce; the provider's group claim mapped
// to a region by the collector's configuration; the reader sees that region only.

const unavailable = browserUnavailableReason();

t.test('OpenID Connect sign-in maps a group to a region', unavailable ? { skip: unavailable } : {}, async (t) => {
  const dir = t.testdir();
  const ca = new TestCa('usmp test national CA');
  t.teardown(() => ca.cleanup());
  const certificate = ca.issue('127.0.0.1', 'IP:127.0.0.1');
  chmodSync(certificate.keyFile, 0o600);
  // the provider must know the collector's redirect URI before either starts
  const peoplePort = (await freeTcpPorts(1))[0]!;
  const redirectUri = `https://127.0.0.1:${peoplePort}/auth/oidc/callback`;
  const provider = await TestOpenIdProvider.start({
    cert: certificate.cert,
    key: certificate.key,
    clientId: 'usmp-collector',
    clientSecret: 'a client secret of the test provider',
    redirectUri,
    accounts: { alice: { groups: ['GRP-DISP-DIJON', 'GRP-UNRELATED'] }, bob: { groups: ['GRP-UNRELATED'] } },
  });
  t.teardown(() => provider.close());
  const secretFile = join(dir, 'oidc-client-secret');
  writeFileSync(secretFile, 'a client secret of the test provider\n', { mode: 0o600 });

  const bordeaux = siteFixture(10);
  const dijon = siteFixture(11);
  const collector = await CollectorProcess.start(
    CollectorProcess.configFile(dir, {
      enrolments: [bordeaux, dijon].map((s) => enrolmentOf(s.key, s.applianceId, { establishmentCode: s.code })),
      tls: certificate,
      listen: `127.0.0.1:${peoplePort}`,
      extra: {
        oidc: {
          issuer: provider.issuer,
          client_id: 'usmp-collector',
          client_secret_file: secretFile,
          redirect_uri: redirectUri,
          scopes: TEST_SCOPES,
          groups_claim: 'groups',
          role_map: { 'GRP-DISP-DIJON': 'region:DISP Dijon' },
        },
      },
    }),
    { ...process.env, NODE_EXTRA_CA_CERTS: ca.caFile },
  );
  t.teardown(() => collector.stop());
  const post = collectorClient(collector.intakeUrl, ca.caFile, 10_000);
  for (const r of [siteReport(fixtureReport(), bordeaux, 0), siteReport(fixtureReport(), dijon, 0)]) t.equal((await post(JSON.stringify(r))).status, 201);

  const browser = await launchBrowser();
  t.teardown(() => browser.close());
  const w = await watchedPage(browser, { ignoreHTTPSErrors: true });
  await w.page.goto(`${collector.url}/`, { waitUntil: 'load' });
  t.match(w.page.url(), /\/login\?next=/, 'signed out: the login page');
  await Promise.all([w.page.waitForURL(`${provider.issuer}/**`), w.page.click('[data-testid=sso]')]);
  const authorize = new URL(w.page.url());
  t.comment(`at the provider: ${authorize.pathname}`);
  await w.page.fill('input[name=login]', 'alice');
  await w.page.fill('input[name=password]', 'any');
  await Promise.all([w.page.waitForURL(`${collector.url}/`, { timeout: 20_000 }), w.page.click('button[type=submit]')]);
  const keysFetchedAt = performance.now();
  t.equal(await w.page.textContent('[data-testid=user]'), 'oidc:alice', 'signed in through the provider');
  t.equal(await w.page.textContent('[data-testid=site-total]'), '1', 'one site');
  const regions = await w.page.locator('[data-testid=sites] tbody tr td:nth-child(2)').allTextContents();
  t.same(regions, ['DISP Dijon'], 'Dijon only: the group mapped to region:DISP Dijon');
  t.notMatch(await w.page.content(), new RegExp(bordeaux.code), 'no trace of Bordeaux');
  t.equal((await w.page.goto(`${collector.url}/sites/${bordeaux.code}`))?.status(), 404);
  // the collector's log reaches the test through a pipe, a moment after the answer
  const signedIn = () => collector.logLines.find((l) => l['event'] === 'collector.sign_in' && l['source'] === 'oidc');
  await until('the sign-in log line', 10_000, () => signedIn() !== undefined);
  t.match(signedIn(), { user: 'oidc:alice' }, 'the sign-in is logged with who');
  await w.page.goto(`${collector.url}/`, { waitUntil: 'load' });
  await Promise.all([w.page.waitForURL(/\/login$/), w.page.click('[data-testid=sign-out]')]);
  await w.page.goto(`${collector.url}/`, { waitUntil: 'load' });
  t.match(w.page.url(), /\/login\?next=/, 'signed out');

  // the provider rotates its signing key: the collector fetches the new key set by itself. The
  // library refetches for an unknown key id only once its copy is a minute old (so that tokens
  // naming made-up keys cannot make it fetch at will), and every 5 minutes anyway: providers
  // publish a new key before they sign with it. Wait out that minute.
  const oldKid = provider.kid;
  provider.rotateKeys();
  t.not(provider.kid, oldKid);
  await new Promise((r) => setTimeout(r, Math.max(0, 61_000 - (performance.now() - keysFetchedAt))));
  await w.page.goto(`${collector.url}/login`, { waitUntil: 'load' });
  await Promise.all([w.page.waitForURL(`${provider.issuer}/**`), w.page.click('[data-testid=sso]')]);
  await w.page.fill('input[name=login]', 'alice');
  await w.page.fill('input[name=password]', 'any');
  await Promise.all([w.page.waitForURL(`${collector.url}/`, { timeout: 20_000 }), w.page.click('button[type=submit]')]);
  t.equal(await w.page.textContent('[data-testid=user]'), 'oidc:alice', 'signed in again after the provider changed its signing key');

  // a user whose groups map to no role is signed in by the provider, but not let in here
  const bobPage = await watchedPage(browser, { ignoreHTTPSErrors: true });
  await bobPage.page.goto(`${collector.url}/login`, { waitUntil: 'load' });
  await Promise.all([bobPage.page.waitForURL(`${provider.issuer}/**`), bobPage.page.click('[data-testid=sso]')]);
  await bobPage.page.fill('input[name=login]', 'bob');
  await bobPage.page.fill('input[name=password]', 'any');
  const [answer] = await Promise.all([
    bobPage.page.waitForResponse((r) => r.url().startsWith(`${collector.url}/auth/oidc/callback`)),
    bobPage.page.click('button[type=submit]'),
  ]);
  t.equal(answer.status(), 403, 'no role: 403');
  t.match(await answer.json(), { error: { code: 'USMP_E_FORBIDDEN' } });
  await until("bob's refusal in the log, with who", 10_000, () =>
    collector.logLines.some((l) => l['event'] === 'collector.sign_in_failed' && l['user'] === 'oidc:bob' && l['reason'] === 'no_role'),
  );
  t.pass('and logged with who');

  // a callback this collector did not start (forged state) does not sign anyone in
  const forger = new HttpsSession(collector.url, ca.caPem);
  const forged = await forger.get('/auth/oidc/callback?code=stolen&state=forged');
  t.equal(forged.status, 303);
  t.equal(forged.headers.location, '/login?error=oidc', 'back to the login page');
  t.notOk(forger.cookies.has('__Host-usmp_session'), 'no session');
});
