import t from 'tap';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';
import { ADDRESSES, Lab, labUnavailableReason } from '../lab/index.js';
import { CLI, startResponder } from '../lab/cli-in-lab.js';
import { browserUnavailableReason, CHROMIUM } from '../fixtures/browser.js';
import { within } from '../fixtures/bounded.js';
import { validateReport } from '../../src/report/qualification-report.js';
import type { ReportDocument } from '../../src/report/report-document.js';

// The care station's test, as an auditor runs it: `qualify --station` on the appliance, Debian's
// Chromium on the unit's LAN host opening the page, typing the code, naming two places.
//   place 1: the access point between the station and the appliance at 10 Mbit/s with 5 ms of
//            jitter, the link to the hospital at 20/20: the internal network limits;
//   place 2: the access point unshaped, the link to the hospital bloated: the link limits.
// The page's rates are judged against iperf3 on the same leg, run in this test right after it.
// Screenshots for the docs with USMP_EDGE_SCREENSHOTS (npm run screenshots).

const unavailable = labUnavailableReason() ?? browserUnavailableReason();
const SHOTS = process.env['USMP_EDGE_SCREENSHOTS'];
const POOR_AP = { rateMbit: 10, delayMs: 5, jitterMs: 5 };
const STATION_STREAMS = 4;

async function iperfOnLanLeg(lab: Lab, port: number): Promise<{ up: number; down: number }> {
  const server = lab.spawn('appliance', ['iperf3', '-s', '-B', ADDRESSES.applianceLan, '-p', String(port)]);
  try {
    await new Promise((r) => setTimeout(r, 500));
    const rate = async (reverse: boolean): Promise<number> => {
      const argv = [
        'iperf3',
        '-c',
        ADDRESSES.applianceLan,
        '-p',
        String(port),
        '-P',
        String(STATION_STREAMS),
        '-t',
        '10',
        '-O',
        '2',
        '-J',
        ...(reverse ? ['-R'] : []),
      ];
      const { stdout } = await lab.exec('usmp', argv, { timeoutMs: 40_000 });
      return (JSON.parse(stdout) as { end: { sum_received: { bits_per_second: number } } }).end.sum_received.bits_per_second / 1e6;
    };
    return { up: await rate(false), down: await rate(true) };
  } finally {
    server.kill('SIGTERM');
  }
}

t.test('two places from the cart: the segment at fault named each time, rates as iperf3 sees them', unavailable ? { skip: unavailable } : {}, async (t) => {
  const dir = t.testdir();
  const shots = SHOTS ?? join(dir, 'shots');
  mkdirSync(shots, { recursive: true });
  // a good link (20/20 Mbit/s, 10 ms each way, a short queue) behind a poor access point
  const goodLink = { rateMbit: 20, delayMs: 10, bufferMs: 20 };
  const lab = await Lab.create({ up: goodLink, down: goodLink, lan: { up: POOR_AP, down: POOR_AP } });
  t.teardown(() => lab.destroy());
  await startResponder(lab);
  const out = join(dir, 'report');
  lab.setEnvironment('appliance', {
    USMP_EDGE_STATION_CERT_FILE: join(dir, 'station-tls', 'cert.pem'),
    USMP_EDGE_STATION_KEY_FILE: join(dir, 'station-tls', 'key.pem'),
    USMP_EDGE_SITE_ESTABLISHMENT: 'Centre pénitentiaire de Test',
    USMP_EDGE_SITE_USMP: 'USMP de Test',
    USMP_EDGE_SITE_ESTABLISHMENT_CODE: '9990001',
  });
  const appliance = lab.spawn('appliance', [
    process.execPath,
    CLI,
    'qualify',
    '--station',
    '--station-address',
    ADDRESSES.applianceLan,
    '--station-port',
    '0',
    '--target',
    ADDRESSES.hospital,
    '--iperf-pool',
    '2',
    '--plan',
    'quick',
    '--out',
    out,
    '--json',
    '--lang',
    'en',
  ]);
  const stderr: string[] = [];
  let stdout = '';
  appliance.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
  const exited = new Promise<number | null>((resolve) => appliance.once('exit', (code) => resolve(code)));
  const ready = within(
    'the station page to be announced',
    30_000,
    new Promise<{ port: number; code: string; fingerprint: string }>((resolve) => {
      createInterface({ input: appliance.stderr! }).on('line', (line) => {
        stderr.push(line);
        const text = stderr.join('\n');
        const port = /station port: (\d+)/.exec(text)?.[1];
        const code = /Session code: (\d{6})/.exec(text)?.[1];
        const fingerprint = /fingerprint: ([0-9A-F:]+)/.exec(text)?.[1];
        if (port && code && fingerprint) resolve({ port: Number(port), code, fingerprint });
      });
    }),
  ).catch((err: unknown) => {
    throw new Error(`${(err as Error).message}\n${stderr.join('\n')}`);
  });
  const station = await ready;
  t.equal(
    station.fingerprint,
    new X509Certificate(readFileSync(join(dir, 'station-tls', 'cert.pem'))).fingerprint256,
    'the fingerprint printed is the certificate made',
  );

  // Chromium on the unit's LAN host: started inside its namespace
  const wrapper = join(dir, 'chromium-in-lan.sh');
  writeFileSync(wrapper, `#!/bin/sh\nexec ip netns exec ${lab.ns('usmp')} ${CHROMIUM} "$@"\n`);
  chmodSync(wrapper, 0o755);
  const browser = await chromium.launch({ executablePath: wrapper, args: ['--no-sandbox', '--disable-gpu'] });
  t.teardown(() => browser.close());
  // the certificate is the appliance's own: the auditor compares its fingerprint (checked above)
  const page = await browser.newPage({ viewport: { width: 900, height: 900 }, ignoreHTTPSErrors: true });
  const consoleErrors: string[] = [];
  const foreign: string[] = [];
  page.on('pageerror', (err) => consoleErrors.push(err.message));
  page.on('request', (req) => {
    if (!req.url().startsWith(`https://${ADDRESSES.applianceLan}:${station.port}/`)) foreign.push(req.url());
  });
  await page.goto(`https://${ADDRESSES.applianceLan}:${station.port}/`);

  t.equal(await page.locator('#place-form').isHidden(), true, 'no test can start before the code');
  await page.fill('#code', String((Number(station.code) + 1) % 1_000_000).padStart(6, '0'));
  await page.click('#code-form button');
  await page.waitForFunction(() => (document.getElementById('message')?.textContent ?? '').includes('wrong code'), undefined, { timeout: 10_000 });
  t.equal(await page.locator('#place-form').isHidden(), true, 'a wrong code opens nothing');
  await page.fill('#code', station.code);
  await page.click('#code-form button');
  await page.waitForSelector('#place-form:not([hidden])', { timeout: 10_000 });

  const testPlace = async (name: string): Promise<void> => {
    await page.fill('#place', name);
    await page.click('#place-form button');
    await page.waitForSelector('#verdict', { timeout: 240_000 });
  };
  await testPlace('Salle 12, borne Wi-Fi B');
  t.equal(await page.getAttribute('#verdict', 'data-limiting'), 'internal', 'place 1: the page names the internal network');
  await page.screenshot({ path: join(shots, 'station-page.png'), fullPage: true });
  const iperfPoor = await iperfOnLanLeg(lab, 5311);

  await lab.setLanLinks({ up: {}, down: {} });
  await lab.setLinks({ up: { ...goodLink, bufferMs: 300 }, down: { ...goodLink, bufferMs: 300 } });
  await page.click('#again');
  await testPlace('Salle 3, prise murale 3-07');
  t.equal(await page.getAttribute('#verdict', 'data-limiting'), 'hospital_link', 'place 2: the page names the link to the hospital');
  await page.click('#finish');
  await page.waitForSelector('#finished', { timeout: 10_000 });
  const code = await within('qualify --station to write its report and exit', 60_000, exited);
  t.same(consoleErrors, [], 'no script error on the page');
  t.same(foreign, [], 'the page fetched nothing but the appliance');

  const report = JSON.parse(stdout) as ReportDocument;
  t.same(validateReport(report), [], 'the report validates against its JSON Schema');
  t.equal(code, 1, 'a place out of limits: exit 1');
  const places = report.places ?? [];
  t.equal(places.length, 2, 'the report holds both places');
  const [poor, bloated] = places;
  t.equal(poor?.name, 'Salle 12, borne Wi-Fi B');
  t.equal(poor?.limiting?.segment, 'internal', 'place 1 limited by the internal network');
  t.equal(bloated?.limiting?.segment, 'hospital_link', 'place 2 limited by the link to the hospital');
  t.ok(
    (bloated?.hospital_link?.loaded_rtt_increase_ms.down ?? 0) > 30,
    `place 2: the bloated link's latency under load shows (${bloated?.hospital_link?.loaded_rtt_increase_ms.down} ms)`,
  );
  for (const direction of ['up', 'down'] as const) {
    const page = poor?.internal[`${direction}_mbps`] ?? 0;
    const reference = iperfPoor[direction];
    const error = page / reference - 1;
    t.ok(
      Math.abs(error) <= 0.05,
      `place 1 ${direction}: page ${page.toFixed(2)} Mbit/s vs iperf3 ${reference.toFixed(2)} on the same leg (${(error * 100).toFixed(1)} %)`,
    );
    const link = poor?.hospital_link?.[`${direction}_mbps`] ?? 0;
    t.ok(link > page * 1.5, `place 1 ${direction}: the link (${link.toFixed(1)}) is wider than the internal network (${page.toFixed(1)})`);
  }

  // the printed report: the places section, in the browser
  const html = await browser.newPage({ viewport: { width: 1000, height: 900 } });
  await html.goto(`file://${join(out, 'report.html')}`);
  t.equal(await html.getAttribute('[data-testid="place-0"]', 'data-limiting'), 'internal');
  t.equal(await html.getAttribute('[data-testid="place-1"]', 'data-limiting'), 'hospital_link');
  t.match(await html.textContent('[data-testid="place-0-said"]'), /Limited by the internal network at this place/);
  // the section alone, in page coordinates
  const { top, bottom } = await html.evaluate(() => {
    const pageY = (selector: string, edge: 'top' | 'bottom'): number => document.querySelector(selector)!.getBoundingClientRect()[edge] + window.scrollY;
    return { top: pageY('#places', 'top'), bottom: pageY('[data-testid="place-1"]', 'bottom') };
  });
  await html.screenshot({ path: join(shots, 'report-places.png'), fullPage: true, clip: { x: 0, y: top - 10, width: 1000, height: bottom - top + 20 } });
});
