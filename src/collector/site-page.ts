import { lineChart, PALETTE } from '../report/render/charts.js';
import { escapeHtml as e, htmlPage } from '../report/render/html-page.js';
import { dateTime, verdictClass } from '../report/render/html-report.js';
import { formatNumber, labels, type Lang } from '../report/render/i18n.js';
import type { ReportView } from './report-store.js';
import { siteStatus } from './site-status.js';

// One site: who it is (from its latest report), its status, every report it sent with links
// to each rendered report, and how its link evolved (throughput and RTT per report).

export async function renderSitePage(store: ReportView, siteKey: string, lang: Lang, nowMs: number): Promise<string | undefined> {
  const history = await store.siteHistory(siteKey);
  const latest = history.at(-1);
  if (!latest) return undefined;
  const t = labels(lang);
  const x = history.map((h) => h.started_at.slice(0, 10));
  const throughput = await lineChart({
    x,
    yName: 'Mbit/s',
    series: [
      { name: t('up'), values: history.map((h) => h.up_mbps), color: PALETTE.up },
      { name: t('down'), values: history.map((h) => h.down_mbps), color: PALETTE.down },
    ],
  });
  const rtt = await lineChart({ x, yName: 'ms', series: [{ name: 'RTT', values: history.map((h) => h.rtt_mean_ms), color: PALETTE.idle }] });
  const rows = [...history]
    .reverse()
    .map(
      (h) =>
        `<tr data-report="${e(h.report_id)}"><td>${e(dateTime(h.started_at, lang))}</td><td><span class="${verdictClass(h.verdict)}">${e(h.verdict.toUpperCase())}</span></td><td>${e(h.profile)}</td><td class="num">${formatNumber(h.up_mbps, lang)}</td><td class="num">${formatNumber(h.down_mbps, lang)}</td><td class="num">${formatNumber(h.rtt_mean_ms, lang)}</td><td class="num">${formatNumber(h.loss_pct, lang, 2)}</td><td>${e(t(`cat_${h.remediation as 'none'}`))}</td><td><a href="/reports/${e(h.report_id)}.html?lang=${lang}">${e(t('report_link'))}</a> · <a href="/reports/${e(h.report_id)}.json">JSON</a></td></tr>`,
    );
  const body = `
<nav><a href="/?lang=${lang}">← ${e(t('back'))}</a></nav>
<header><h1>${e(latest.establishment || siteKey)}</h1><div class="muted">${e(latest.establishment_code)} · ${e(latest.region)} · ${e(latest.usmp)} · ${e(latest.hospital)} · ${e(t('appliance_id'))} ${e(latest.appliance_id)}</div></header>
<div class="banner"><span class="${verdictClass(latest.verdict)} big">${e(latest.verdict.toUpperCase())}</span><span>${e(t(`status_${siteStatus(latest, nowMs)}`))}</span><span>${e(t('last_report'))}: ${e(dateTime(latest.started_at, lang))}</span></div>
<div class="charts"><figure data-testid="chart-site-throughput"><figcaption>${e(t('throughput_per_report'))}</figcaption>${throughput}</figure><figure data-testid="chart-site-rtt"><figcaption>${e(t('rtt_over_time'))}</figcaption>${rtt}</figure></div>
<h2>${e(t('history'))} (${history.length})</h2>
<table data-testid="history"><thead><tr><th>${e(t('started_at'))}</th><th>${e(t('verdict'))}</th><th>${e(t('profile'))}</th><th class="num">Mbit/s ${e(t('up'))}</th><th class="num">Mbit/s ${e(t('down'))}</th><th class="num">RTT ms</th><th class="num">${e(t('loss_pct_short'))}</th><th>${e(t('remediation'))}</th><th></th></tr></thead><tbody>${rows.join('\n')}</tbody></table>`;
  return htmlPage({ lang, title: `${latest.establishment || siteKey} — ${t('history')}`, body });
}
