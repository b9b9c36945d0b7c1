import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderReportHtml } from '../../src/report/render/html-report.js';
import type { ReportDocument } from '../../src/report/report-document.js';
import { signReport } from '../../src/report/signing.js';
import { browserUnavailableReason, launchBrowser, watchedPage } from '../fixtures/browser.js';
import { fixtureReport, newSigningKey } from '../fixtures/national-reports.js';

// The HTML report, opened in headless Chromium, renders with no console
// error and no request outside the page; the key figures shown are those of report.json.

const unavailable = browserUnavailableReason();

/** "20 720,6 Mbit/s" (fr) or "20,720.6" (en) → 20720.6 */
function shownNumber(text: string, lang: 'fr' | 'en'): number {
  const digits = lang === 'fr' ? text.replace(/[\s\u202f\u00a0]/g, '').replace(',', '.') : text.replace(/,/g, '');
  return Number(/-?[0-9.]+/.exec(digits)?.[0]);
}

t.test('the report page in Chromium: no error, no request, the figures of report.json', unavailable ? { skip: unavailable } : {}, async (t) => {
  const report = signReport(fixtureReport(), newSigningKey()) as unknown as ReportDocument;
  const dir = t.testdir();
  const browser = await launchBrowser();
  t.teardown(() => browser.close());
  for (const lang of ['fr', 'en'] as const) {
    const file = join(dir, `report-${lang}.html`);
    writeFileSync(file, await renderReportHtml(report, lang));
    const w = await watchedPage(browser);
    await w.page.goto(`file://${file}`, { waitUntil: 'load' });
    t.same(w.consoleErrors, [], `${lang}: no console error`);
    t.same(w.requests, [`file://${file}`], `${lang}: no request but the page itself`);
    t.equal(await w.page.getAttribute('html', 'lang'), lang);
    t.equal(await w.page.getAttribute('[data-testid=verdict]', 'data-value'), report.verdict);
    t.equal(await w.page.textContent('[data-testid=establishment]'), report.site.establishment);
    t.equal(await w.page.textContent('[data-testid=raw_sha256]'), report.raw_sha256);
    t.match(await w.page.textContent('[data-testid=signature]'), report.signature!.key_id);
    t.equal(await w.page.getAttribute('[data-testid=remediation]', 'data-value'), report.remediation.category);
    for (const line of report.lines) {
      const cell = w.page.locator(`tr[data-metric="${line.metric}"] td.num`).first();
      t.equal(await cell.getAttribute('data-value'), String(line.value ?? ''), `${lang}: ${line.metric} carries its value`);
      if (typeof line.value === 'number')
        t.ok(Math.abs(shownNumber((await cell.textContent()) ?? '', lang) - line.value) <= 0.005 + 1e-9, `${lang}: ${line.metric} shows ${line.value}`);
    }
    for (const chart of ['chart-throughput', 'chart-rtt', 'chart-ipdv', 'chart-load'])
      t.equal(await w.page.locator(`[data-testid=${chart}] svg`).count(), 1, `${lang}: ${chart} drawn`);
    t.equal(await w.page.locator('[data-testid=chart-qos]').count(), 1, `${lang}: QoS proof section present`);
    // the throughput chart draws one point per second of each direction
    const upSeries = report.details!.load!['up']!.throughput!.up!.series_mbps!;
    t.ok(upSeries.length >= 5, 'the fixture has a throughput series');
    // printable: the A4 print layout renders to PDF without error
    const pdf = await w.page.pdf({ format: 'A4' });
    t.ok(pdf.length > 10_000 && pdf.subarray(0, 4).toString() === '%PDF', `${lang}: prints to PDF (${pdf.length} bytes)`);
    await w.page.close();
  }
});
