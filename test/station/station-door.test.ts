import t, { type Test } from 'tap';
import { request } from 'node:https';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { pino } from 'pino';
import { systemRunner } from '../../src/exec/process-runner.js';
import { loadProfiles } from '../../src/qualify/profiles.js';
import { PlaceBook } from '../../src/station/place-book.js';
import { MAX_UPLOAD_BODY, SESSION_COOKIE, StationServer } from '../../src/station/station-server.js';
import { MAX_WRONG_CODES, StationSession } from '../../src/station/station-session.js';
import { STATION_PAGE_CSP } from '../../src/station/page/station-page.js';
import { ensureSelfSignedCertificate } from '../../src/tls/self-signed-certificate.js';
import { within } from '../fixtures/bounded.js';

// The station page's door, tried as a host on the unit's LAN would: no code, wrong codes,
// forged cookies, oversized or malformed documents, a session past its time. Each refusal has
// its code, and changes nothing for the session of the auditor. On loopback, no root; the link
// to the hospital is not measured here (the lab test does it): the door is.

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

const profile = loadProfiles().get('teleconsultation-hd')!;
const silent = pino({ level: 'silent' });

async function stationFixture(t: Test, ttlMs: number) {
  const dir = t.testdir();
  const cert = await ensureSelfSignedCertificate({
    purpose: "the station page's certificate",
    ownFilesKey: 'station.cert_file',
    certFile: join(dir, 'cert.pem'),
    keyFile: join(dir, 'key.pem'),
    commonName: 'station test',
    names: ['127.0.0.1'],
    runner: systemRunner,
  });
  const session = new StationSession({ ttlMs });
  let linkRuns = 0;
  const places = new PlaceBook({
    profile,
    streams: 4,
    log: silent,
    measureLink: async () => {
      linkRuns++;
      return {
        figures: { up_mbps: 19, down_mbps: 19, rtt_ms: 25, loaded_rtt_increase_ms: { up: 3, down: 4 }, loss_pct: 0 },
        verdict: 'pass',
        started_at: new Date().toISOString(),
      };
    },
  });
  const ca = readFileSync(cert.certFile, 'utf8');
  const server = await StationServer.start({
    host: '127.0.0.1',
    port: 0,
    tls: { cert: readFileSync(cert.certFile), key: readFileSync(cert.keyFile) },
    session,
    places,
    lang: 'en',
    siteLabel: 'Test site <script>',
    streams: 4,
    log: silent,
  });
  t.teardown(() => server.close());
  const send = (method: string, path: string, o: { json?: unknown; raw?: Buffer; cookie?: string } = {}): Promise<Answer> =>
    within(
      `${method} ${path}`,
      10_000,
      new Promise<Answer>((resolve, reject) => {
        const body = o.json !== undefined ? Buffer.from(JSON.stringify(o.json)) : o.raw;
        const req = request(
          {
            host: '127.0.0.1',
            port: server.port,
            method,
            path,
            ca,
            headers: {
              ...(body
                ? { 'content-type': o.json !== undefined ? 'application/json' : 'application/octet-stream', 'content-length': String(body.length) }
                : {}),
              ...(o.cookie ? { cookie: `${SESSION_COOKIE}=${o.cookie}` } : {}),
            },
          },
          (res) => {
            let text = '';
            res.setEncoding('utf8');
            res.on('data', (c: string) => (text += c));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
          },
        );
        req.on('error', reject);
        req.end(body);
      }),
    );
  const enter = async (code: string): Promise<{ answer: Answer; token: string | undefined }> => {
    const answer = await send('POST', '/api/session', { json: { code } });
    const set = ([] as string[]).concat(answer.headers['set-cookie'] ?? []);
    const token = set.map((c) => new RegExp(`^${SESSION_COOKIE}=([^;]+)`).exec(c)?.[1]).find((x) => x !== undefined);
    return { answer, token };
  };
  return { session, send, enter, cert, ca, linkRuns: () => linkRuns };
}

const codeOf = (a: Answer): string => (JSON.parse(a.body) as { error: { code: string } }).error.code;
const submission = (place: string) => ({
  place,
  idle_rtt_ms: [1, 1.2, 0.9],
  down: { bytes: 10_000_000, seconds: 8 },
  loaded_rtt_ms: { down: [5, 6], up: [7, 8] },
  probes: { sent: 7, lost: 0 },
});

t.test('the page is served with a strict CSP and nothing inline; everything else needs the session', async (t) => {
  const f = await stationFixture(t, 60_000);
  const page = await f.send('GET', '/');
  t.equal(page.status, 200);
  t.equal(page.headers['content-security-policy'], STATION_PAGE_CSP, 'the strict CSP');
  t.notMatch(STATION_PAGE_CSP, /unsafe-inline|unsafe-eval|\*/, 'no inline code, no eval, no wildcard');
  t.notMatch(page.body, /<script>(?!<)/, 'no inline script');
  t.match(page.body, /Test site &lt;script&gt;/, 'the site label is escaped');
  t.equal(new X509Certificate(f.ca).fingerprint256, f.cert.fingerprint256, 'the fingerprint printed is the certificate served');
  for (const [method, path] of [
    ['GET', '/api/ping'],
    ['GET', '/api/download?bytes=1000'],
    ['POST', '/api/upload/start'],
    ['GET', '/api/places/0'],
    ['POST', '/api/finish'],
  ] as const) {
    const a = await f.send(method, path, method === 'POST' ? { json: {} } : {});
    t.equal(a.status, 401, `${method} ${path} without the session: 401`);
    t.equal(codeOf(a), 'USMP_E_STATION_CODE');
  }
  const forged = await f.send('GET', '/api/ping', { cookie: 'A'.repeat(43) });
  t.equal(forged.status, 401, 'a forged cookie: 401');
  t.equal(f.session.ended, undefined, 'none of this ended the session');
});

t.test('an upload without the session is refused before its body is counted', async (t) => {
  const f = await stationFixture(t, 60_000);
  const { token } = await f.enter(f.session.code);
  t.ok(token, 'the right code gives a cookie');
  await f.send('POST', '/api/upload/start', { json: {}, cookie: token! });
  const stranger = await f.send('POST', '/api/upload', { raw: Buffer.alloc(1 << 20), cookie: 'forged' });
  t.equal(stranger.status, 401, "a stranger's upload: 401");
  const own = await f.send('POST', '/api/upload', { raw: Buffer.alloc(4096), cookie: token! });
  t.equal(own.status, 200, "the auditor's upload is taken");
  const stop = JSON.parse((await f.send('POST', '/api/upload/stop', { json: {}, cookie: token! })).body) as { total_bytes: number };
  t.equal(stop.total_bytes, 4096, "only the auditor's octets were counted");
  const tooBig = await f.send('POST', '/api/upload', { raw: Buffer.alloc(MAX_UPLOAD_BODY + 1), cookie: token! });
  t.equal(tooBig.status, 413, 'an upload body over the limit: 413');
  const huge = await f.send('GET', `/api/download?bytes=${2 ** 31}`, { cookie: token! });
  t.equal(huge.status, 400, 'a download over the limit: 400');
});

t.test('wrong codes count down and end the session; a new code entry replaces the old cookie', async (t) => {
  const f = await stationFixture(t, 60_000);
  const wrong = String((Number(f.session.code) + 1) % 1_000_000).padStart(6, '0');
  const first = await f.enter(wrong);
  t.equal(first.answer.status, 401);
  t.equal(codeOf(first.answer), 'USMP_E_STATION_CODE');
  t.equal(
    (JSON.parse(first.answer.body) as { error: { details: { attempts_left: number } } }).error.details.attempts_left,
    MAX_WRONG_CODES - 1,
    'attempts left said',
  );
  const a = await f.enter(f.session.code);
  const b = await f.enter(f.session.code);
  t.equal((await f.send('GET', '/api/ping', { cookie: a.token! })).status, 401, 'the older cookie no longer works');
  t.equal((await f.send('GET', '/api/ping', { cookie: b.token! })).status, 204, 'the newest one does');
  const bad = await f.send('POST', '/api/places', { json: { ...submission('Salle 1'), extra: 1 }, cookie: b.token! });
  t.equal(bad.status, 400, 'an unknown field in a place: 400');
  const control = await f.send('POST', '/api/places', { json: submission('Salle\u0007 1'), cookie: b.token! });
  t.equal(control.status, 400, 'a control character in a place name: 400');
  const many = await f.send('POST', '/api/places', { json: { ...submission('x'), idle_rtt_ms: new Array(3000).fill(1) }, cookie: b.token! });
  t.equal(many.status, 400, 'more than 2000 probes in a list: 400');
  const long = await f.send('POST', '/api/places', { json: { ...submission('x'), idle_rtt_ms: new Array(9000).fill(1) }, cookie: b.token! });
  t.equal(long.status, 413, 'a document over 16 KiB: 413');
  t.equal(f.linkRuns(), 0, 'no refused document started a measurement');
  for (let i = 1; i < MAX_WRONG_CODES; i++) await f.enter(wrong);
  t.equal(f.session.ended, 'too-many-codes', `${MAX_WRONG_CODES} wrong codes end the session`);
  const late = await f.enter(f.session.code);
  t.equal(late.answer.status, 410, 'then even the right code is refused');
  t.equal(codeOf(late.answer), 'USMP_E_STATION_ENDED');
  t.equal((await f.send('GET', '/api/ping', { cookie: b.token! })).status, 410, 'and the open cookie with it');
});

t.test('a place is judged with the link measured after it; the session ends by itself', async (t) => {
  const f = await stationFixture(t, 3000);
  const { token } = await f.enter(f.session.code);
  const posted = await f.send('POST', '/api/places', { json: submission('Salle 2, prise B'), cookie: token! });
  t.equal(posted.status, 202);
  const { id } = JSON.parse(posted.body) as { id: number };
  let place: { status: string; verdict?: string; limiting?: { segment: string } } = { status: 'measuring' };
  for (let i = 0; i < 50 && place.status === 'measuring'; i++) {
    place = JSON.parse((await f.send('GET', `/api/places/${id}`, { cookie: token! })).body) as typeof place;
    if (place.status === 'measuring') await new Promise((r) => setTimeout(r, 20));
  }
  t.equal(place.status, 'done');
  // 10 MB in 8 s = 10 Mbit/s down inside, 19 on the link: the internal network limits
  t.equal(place.limiting?.segment, 'internal', 'the narrower segment is named');
  t.equal(f.linkRuns(), 1, 'the link was measured once, for this place');
  await new Promise((r) => setTimeout(r, Math.max(0, f.session.expiresAt - Date.now()) + 100));
  const after = await f.send('GET', '/api/ping', { cookie: token! });
  t.equal(after.status, 410, 'past its time the session refuses');
  t.equal(codeOf(after), 'USMP_E_STATION_ENDED');
  t.equal(f.session.ended, 'expired');
});
