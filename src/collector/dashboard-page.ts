import { groupedBars, PALETTE } from '../report/render/charts.js';
import { escapeHtml as e, htmlPage } from '../report/render/html-page.js';
import { formatNumber, labels, type Lang } from '../report/render/i18n.js';
import { verdictClass } from '../report/render/html-report.js';
import type { ReportView, SiteSummary } from './report-store.js';
import { ageDays, siteStatus } from './site-status.js';

// The national table: one row per site as of its latest report, filters by region and
// verdict, a page of PAGE_SIZE sites at a time. Plain HTML and one inline SVG: no script.

export const PAGE_SIZE = 100;
const VERDICTS = ['pass', 'pass*', 'fail*', 'fail'] as const;

export interface DashboardQuery {
  region?: string | undefined;
  verdict?: string | undefined;
  page?: number | undefined;
}

export async function renderDashboard(store: ReportView, query: DashboardQuery, lang: Lang, nowMs: number): Promise<string> {
  const t = labels(lang);
  const page = Math.max(1, query.page ?? 1);
  const verdict = VERDICTS.find((v) => v === query.verdict);
  const [{ rows, total }, counts, regions] = await Promise.all([
    store.sites({ region: query.region, verdict, offset: (page - 1) * PAGE_SIZE, limit: PAGE_SIZE }),
    store.verdictCounts({ region: query.region }),
    store.regions(),
  ]);
  const pages = Math.max(1, Math.ceil(total / PAGE_SIZE));
  const chart = await groupedBars({
    categories: VERDICTS.map((v) => v.toUpperCase()),
    yName: t('sites'),
    series: [{ name: t('sites'), values: VERDICTS.map((v) => counts[v] ?? 0), color: PALETTE.up }],
  });
  const link = (p: number) =>
    `?${new URLSearchParams({ ...(query.region ? { region: query.region } : {}), ...(verdict ? { verdict } : {}), page: String(p), lang }).toString()}`;
  const body = `
<header><h1>${e(t('dashboard_title'))}</h1>
<nav class="muted"><a href="/fleet?lang=${lang}" data-testid="fleet-link">${lang === 'fr' ? 'Parc en direct' : 'Live fleet'}</a> · <a href="/export/reports.csv">${e(t('export_csv'))}</a> · <a href="/export/reports.json">${e(t('export_json'))}</a> · <a href="/export/pscheduler.ndjson">${e(t('export_pscheduler'))}</a> · <a href="/export/places.csv">${e(t('export_places'))}</a> · <a href="?lang=${lang === 'fr' ? 'en' : 'fr'}">${lang === 'fr' ? 'English' : 'Français'}</a></nav></header>
<form class="filters" method="get">
<label>${e(t('region'))}<select name="region"><option value="">${e(t('all'))}</option>${regions.map((r) => `<option${r === query.region ? ' selected' : ''}>${e(r)}</option>`).join('')}</select></label>
<label>${e(t('verdict'))}<select name="verdict"><option value="">${e(t('all'))}</option>${VERDICTS.map((v) => `<option value="${e(v)}"${v === verdict ? ' selected' : ''}>${e(v.toUpperCase())}</option>`).join('')}</select></label>
<input type="hidden" name="lang" value="${lang}"><button type="submit">${e(t('filter'))}</button>
</form>
<div class="charts"><figure data-testid="verdict-counts"><figcaption>${e(t('sites'))}: <span data-testid="site-total">${total}</span></figcaption>${chart}</figure></div>
<table data-testid="sites"><thead><tr><th>${e(t('establishment'))}</th><th>${e(t('region'))}</th><th>${e(t('status'))}</th><th>${e(t('verdict'))}</th><th class="num">Mbit/s ${e(t('up'))}</th><th class="num">Mbit/s ${e(t('down'))}</th><th class="num">RTT ms</th><th class="num">${e(t('loss_pct_short'))}</th><th>${e(t('remediation'))}</th><th class="num">${e(t('age_days'))}</th><th class="num">${e(t('reports'))}</th></tr></thead>
<tbody>${rows.map((s) => siteRow(s, lang, nowMs)).join('\n')}</tbody></table>
<p class="muted">${e(t('page'))} ${page} / ${pages}${page > 1 ? ` · <a href="${link(page - 1)}">←</a>` : ''}${page < pages ? ` · <a href="${link(page + 1)}" data-testid="next-page">→</a>` : ''}</p>`;
  return htmlPage({ lang, title: t('dashboard_title'), body });
}

function siteRow(s: SiteSummary, lang: Lang, nowMs: number): string {
  const t = labels(lang);
  const status = siteStatus(s, nowMs);
  const missing =
    s.remediation === 'link-upgrade' && s.missing_up_mbps !== null
      ? ` (${t('missing')} ${formatNumber(s.missing_up_mbps, lang)}/${formatNumber(s.missing_down_mbps, lang)})`
      : '';
  return `<tr data-site="${e(s.site_key)}" data-report="${e(s.report_id)}"><td><a href="/sites/${encodeURIComponent(s.site_key)}?lang=${lang}">${e(s.establishment || s.site_key)}</a><div class="muted">${e(s.establishment_code)} · ${e(s.usmp)}</div></td><td>${e(s.region)}</td><td><span class="${status === 'stale' ? 'verdict v-stale' : ''}">${e(t(`status_${status}`))}</span></td><td><span class="${verdictClass(s.verdict)}">${e(s.verdict.toUpperCase())}</span></td><td class="num" data-value="${s.up_mbps ?? ''}">${formatNumber(s.up_mbps, lang)}</td><td class="num" data-value="${s.down_mbps ?? ''}">${formatNumber(s.down_mbps, lang)}</td><td class="num">${formatNumber(s.rtt_mean_ms, lang)}</td><td class="num">${formatNumber(s.loss_pct, lang, 2)}</td><td>${e(t(`cat_${s.remediation as 'none'}`))}${e(missing)}</td><td class="num">${ageDays(s.started_at, nowMs)}</td><td class="num">${s.report_count}</td></tr>`;
}
