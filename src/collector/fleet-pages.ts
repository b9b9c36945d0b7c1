import { lineChart, PALETTE, type ChartMark } from '../report/render/charts.js';
import { escapeHtml as e, htmlPage } from '../report/render/html-page.js';
import { dateTime, verdictClass } from '../report/render/html-report.js';
import { formatNumber, type Lang } from '../report/render/i18n.js';
import type { ReportView } from './report-store.js';
import type { FleetView, GridRow } from './telemetry-store.js';

// The live fleet, for the national team: a site × metric grid in the manner of perfSONAR's
// MaDDash (each cell coloured against the site's own profile limits), each site's timeline over
// 30 days or 12 months, and the version inventory. Plain HTML and inline SVG: no script.

const WORDS = {
  fr: {
    grid_title: 'Parc en direct',
    availability: 'Disponibilité 24 h',
    rtt_p95: 'RTT p95 24 h',
    loss: 'Pertes 24 h',
    degraded: 'Minutes dégradées 24 h',
    heartbeat: 'Dernier signe de vie',
    version: 'Version',
    establishment: 'Établissement',
    region: 'Région',
    all: 'toutes',
    filter: 'Filtrer',
    silent: 'MUET',
    never: 'jamais',
    versions: 'Versions installées',
    timeline: 'Historique',
    days30: '30 jours',
    months12: '12 mois',
    alerts: 'Alertes',
    reports: 'Qualifications',
    back: 'Parc',
    legend: 'Vert : dans les limites du profil du site ; orange : proche ; rouge : hors limite ou muet.',
    sites: 'sites',
    rtt_chart: 'RTT (ms)',
    loss_chart: 'Pertes et disponibilité (%)',
    availability_short: 'Disponibilité',
    loss_short: 'Pertes',
    gaps: 'documents manquants',
    link: 'Lien',
    qualification: 'Qualification',
    calls_month: 'Appels ce mois',
    calls: 'Téléconsultations vues sur le réseau',
    month: 'Mois',
    calls_count: 'Appels',
    minutes: 'Minutes',
    attempts: 'Tentatives',
    poor_share: 'Part « mauvaise »',
    calls_note: "Appels vus sur le réseau (en-têtes RTP), non des actes déclarés ; une tentative dure moins que la durée minimale d'un appel.",
    poor: 'mauvais',
  },
  en: {
    grid_title: 'Live fleet',
    availability: 'Availability 24 h',
    rtt_p95: 'RTT p95 24 h',
    loss: 'Loss 24 h',
    degraded: 'Minutes degraded 24 h',
    heartbeat: 'Last heard from',
    version: 'Version',
    establishment: 'Establishment',
    region: 'Region',
    all: 'all',
    filter: 'Filter',
    silent: 'SILENT',
    never: 'never',
    versions: 'Versions installed',
    timeline: 'Timeline',
    days30: '30 days',
    months12: '12 months',
    alerts: 'Alerts',
    reports: 'Qualifications',
    back: 'Fleet',
    legend: "Green: within the site's profile limits; orange: close; red: past the limit, or silent.",
    sites: 'sites',
    rtt_chart: 'RTT (ms)',
    loss_chart: 'Loss and availability (%)',
    availability_short: 'Availability',
    loss_short: 'Loss',
    gaps: 'documents missing',
    link: 'Link',
    qualification: 'Qualification',
    calls_month: 'Calls this month',
    calls: 'Teleconsultations seen on the network',
    month: 'Month',
    calls_count: 'Calls',
    minutes: 'Minutes',
    attempts: 'Attempts',
    poor_share: 'Share graded poor',
    calls_note: "Calls seen on the network (RTP headers), not declared acts; an attempt is shorter than a call's minimum length.",
    poor: 'poor',
  },
} as const;

type Colour = 'ok' | 'warn' | 'bad' | 'none';

/** Red past the limit, orange past `near` of it. */
function againstLimit(value: number | null, limit: number | null, near: number): Colour {
  if (value === null) return 'none';
  if (limit === null) return 'ok';
  return value > limit ? 'bad' : value > limit * near ? 'warn' : 'ok';
}

/** Availability: a quarter of an hour down in 24 h (99 %) is red; any minute down is orange. */
function availabilityColour(pct: number | null): Colour {
  if (pct === null) return 'none';
  return pct < 99 ? 'bad' : pct < 100 ? 'warn' : 'ok';
}

/** Degraded minutes in 24 h: over an hour is red, any is orange. */
function degradedColour(minutes: number | null): Colour {
  if (minutes === null) return 'none';
  return minutes > 60 ? 'bad' : minutes > 0 ? 'warn' : 'ok';
}

/** The link as the appliance's latest heartbeat saw it. */
function linkColour(state: string | null): Colour {
  return state === 'ok' ? 'ok' : state === 'degraded' ? 'warn' : state === 'down' ? 'bad' : 'none';
}

function linkText(state: string | null, lang: Lang): string {
  const fr: Record<string, string> = { ok: 'OK', degraded: 'DÉGRADÉ', down: 'COUPÉ', unknown: 'non mesuré' };
  const en: Record<string, string> = { ok: 'OK', degraded: 'DEGRADED', down: 'DOWN', unknown: 'not measured' };
  return state === null ? '—' : ((lang === 'fr' ? fr : en)[state] ?? state);
}

export function isSilent(row: Pick<GridRow, 'last_received_at'>, nowMs: number, silentAfterMs: number): boolean {
  return row.last_received_at === null || nowMs - Date.parse(row.last_received_at) > silentAfterMs;
}

export function heartbeatColour(row: GridRow, nowMs: number, silentAfterMs: number): Colour {
  if (row.last_received_at === null) return 'none';
  if (isSilent(row, nowMs, silentAfterMs)) return 'bad';
  const interval = (row.heartbeat_interval_s ?? 300) * 1000;
  return nowMs - Date.parse(row.last_heartbeat_at ?? row.last_received_at) > 2 * interval ? 'warn' : 'ok';
}

export async function renderGrid(
  fleet: FleetView,
  regions: string[],
  query: { region?: string | undefined },
  lang: Lang,
  nowMs: number,
  silentAfterMs: number,
): Promise<string> {
  const w = WORDS[lang];
  const rows = await fleet.grid({ region: query.region, nowMs });
  const cell = (colour: Colour, text: string, metric: string, value?: number | string | null) =>
    `<td class="c-${colour}" data-metric="${metric}" data-colour="${colour}"${value === undefined || value === null ? '' : ` data-value="${e(value)}"`}>${e(text)}</td>`;
  const age = (iso: string | null) => (iso === null ? w.never : `${formatNumber((nowMs - Date.parse(iso)) / 60_000, lang, 0)} min`);
  const body = `
<header><h1>${e(w.grid_title)}</h1>
<nav class="muted"><a href="/?lang=${lang}">${lang === 'fr' ? 'Qualifications' : 'Qualifications'}</a> · <a href="/fleet/versions?lang=${lang}">${e(w.versions)}</a> · <a href="/export/hourly.csv">CSV</a> · <a href="/export/hourly.json">JSON</a> · <a href="?lang=${lang === 'fr' ? 'en' : 'fr'}">${lang === 'fr' ? 'English' : 'Français'}</a></nav></header>
<form class="filters" method="get">
<label>${e(w.region)}<select name="region"><option value="">${e(w.all)}</option>${regions.map((r) => `<option${r === query.region ? ' selected' : ''}>${e(r)}</option>`).join('')}</select></label>
<input type="hidden" name="lang" value="${lang}"><button type="submit">${e(w.filter)}</button>
</form>
<p class="muted">${rows.length} ${e(w.sites)}. ${e(w.legend)}</p>
<table class="grid" data-testid="fleet-grid"><thead><tr><th>${e(w.establishment)}</th><th>${e(w.availability)}</th><th>${e(w.rtt_p95)}</th><th>${e(w.loss)}</th><th>${e(w.degraded)}</th><th>${e(w.link)}</th><th>${e(w.heartbeat)}</th><th>${e(w.calls_month)}</th><th>${e(w.version)}</th><th>${e(w.qualification)}</th></tr></thead>
<tbody>${rows
    .map((r) => {
      const silent = r.last_received_at !== null && isSilent(r, nowMs, silentAfterMs);
      return (
        `<tr data-site="${e(r.site_key)}" data-silent="${silent}"><td><a href="/fleet/sites/${encodeURIComponent(r.site_key)}?lang=${lang}">${e(r.establishment || r.site_key)}</a><div class="muted">${e(r.region ?? '')} · ${e(r.appliance_id ?? '')}${r.sequence_gaps > 0 ? ` · ${r.sequence_gaps} ${e(w.gaps)}` : ''}</div></td>` +
        cell(
          availabilityColour(r.availability_pct),
          r.availability_pct === null ? '—' : `${formatNumber(r.availability_pct, lang, 2)} %`,
          'availability',
          r.availability_pct,
        ) +
        cell(againstLimit(r.rtt_p95_ms, r.limit_rtt_ms, 0.8), r.rtt_p95_ms === null ? '—' : `${formatNumber(r.rtt_p95_ms, lang)} ms`, 'rtt_p95', r.rtt_p95_ms) +
        cell(againstLimit(r.loss_pct, r.limit_loss_pct, 0.5), r.loss_pct === null ? '—' : `${formatNumber(r.loss_pct, lang, 2)} %`, 'loss', r.loss_pct) +
        cell(degradedColour(r.degraded_min), r.degraded_min === null ? '—' : formatNumber(r.degraded_min, lang, 0), 'degraded', r.degraded_min) +
        cell(linkColour(r.link_state), linkText(r.link_state, lang), 'link', r.link_state) +
        cell(heartbeatColour(r, nowMs, silentAfterMs), `${silent ? `${w.silent} · ` : ''}${age(r.last_received_at)}`, 'heartbeat') +
        `<td class="num" data-metric="calls_month" data-value="${r.calls_month ?? ''}">${r.calls_month === null ? '—' : `${r.calls_month}${r.calls_poor_month ? ` <span class="muted">(${r.calls_poor_month} ${e(w.poor)})</span>` : ''}`}</td>` +
        `<td data-metric="version">${e(r.version ?? '—')}</td><td>${r.verdict ? `<span class="${verdictClass(r.verdict)}">${e(r.verdict.toUpperCase())}</span>` : '—'}</td></tr>`
      );
    })
    .join('\n')}</tbody></table>`;
  return htmlPage({ lang, title: w.grid_title, body });
}

export async function renderTimeline(
  fleet: FleetView,
  reports: ReportView,
  siteKey: string,
  range: '30d' | '12m',
  lang: Lang,
  nowMs: number,
): Promise<string | undefined> {
  const w = WORDS[lang];
  const [{ points, alerts }, history, rows, months] = await Promise.all([
    fleet.timeline(siteKey, range, nowMs),
    reports.siteHistory(siteKey),
    fleet.grid({ nowMs }),
    fleet.callsByMonth(siteKey, nowMs),
  ]);
  const site = rows.find((r) => r.site_key === siteKey);
  if (!site) return undefined;
  const label = (iso: string) => (range === '30d' ? `${iso.slice(5, 13).replace('T', ' ')}h` : iso.slice(0, 10));
  const x = points.map((p) => label(p.at));
  const from = nowMs - (range === '30d' ? 30 : 366) * 86_400_000;
  const qualifications = history.filter((h) => Date.parse(h.started_at) >= from);
  // alerts raised and qualifications as vertical marks, on the hour (or day) they fall in
  const onAxis = new Set(x);
  const marks: ChartMark[] = [
    ...alerts.filter((a) => a.kind === 'raised').map((a) => ({ x: label(a.at), label: a.metric, color: PALETTE.down })),
    ...qualifications.map((h) => ({ x: label(h.started_at), label: h.verdict.toUpperCase(), color: PALETTE.up })),
  ].filter((m) => onAxis.has(m.x));
  const rtt = await lineChart({
    x,
    yName: 'ms',
    marks,
    limit: site.limit_rtt_ms === null ? undefined : { value: site.limit_rtt_ms, label: `${site.profile ?? ''} ${site.limit_rtt_ms} ms` },
    series: [
      { name: 'RTT p95', values: points.map((p) => p.rtt_p95_ms), color: PALETTE.down },
      { name: 'RTT median', values: points.map((p) => p.rtt_median_ms), color: PALETTE.idle },
    ],
  });
  const loss = await lineChart({
    x,
    yName: '%',
    series: [
      { name: w.loss_short, values: points.map((p) => p.loss_pct), color: PALETTE.down },
      { name: w.availability_short, values: points.map((p) => p.availability_pct), color: PALETTE.up },
    ],
  });
  const body = `
<nav><a href="/fleet?lang=${lang}">← ${e(w.back)}</a></nav>
<header><h1>${e(site.establishment || siteKey)}</h1><div class="muted">${e(site.region ?? '')} · ${e(site.appliance_id ?? '')} · ${e(w.version)} ${e(site.version ?? '—')}</div></header>
<nav class="filters"><a href="?range=30d&amp;lang=${lang}"${range === '30d' ? ' aria-current="page"' : ''}>${e(w.days30)}</a> · <a href="?range=12m&amp;lang=${lang}"${range === '12m' ? ' aria-current="page"' : ''}>${e(w.months12)}</a></nav>
<div class="charts"><figure data-testid="timeline-rtt"><figcaption>${e(w.rtt_chart)}</figcaption>${rtt}</figure><figure data-testid="timeline-loss"><figcaption>${e(w.loss_chart)}</figcaption>${loss}</figure></div>
<h2>${e(w.calls)}</h2>
<p class="muted">${e(w.calls_note)}</p>
<table data-testid="calls-by-month"><thead><tr><th>${e(w.month)}</th><th class="num">${e(w.calls_count)}</th><th class="num">${e(w.minutes)}</th><th class="num">${e(w.poor_share)}</th><th class="num">${e(w.attempts)}</th></tr></thead>
<tbody>${months.map((m) => `<tr data-month="${e(m.month)}"><td>${e(m.month)}</td><td class="num" data-metric="calls">${m.calls}</td><td class="num" data-metric="minutes">${formatNumber(m.minutes, lang, 0)}</td><td class="num" data-metric="poor_pct">${m.calls === 0 ? '—' : `${formatNumber((100 * m.poor) / m.calls, lang, 1)} %`}</td><td class="num" data-metric="attempts">${m.attempts}</td></tr>`).join('')}</tbody></table>
<h2>${e(w.alerts)} (${alerts.length})</h2>
<table data-testid="timeline-alerts"><tbody>${alerts
    .slice(-200)
    .reverse()
    .map((a) => `<tr><td>${e(dateTime(a.at, lang))}</td><td>${e(a.kind)}</td><td>${e(a.metric)}</td><td>${e(a.message)}</td></tr>`)
    .join('')}</tbody></table>
<h2>${e(w.reports)} (${qualifications.length})</h2>
<table data-testid="timeline-reports"><tbody>${qualifications.map((h) => `<tr><td>${e(dateTime(h.started_at, lang))}</td><td><span class="${verdictClass(h.verdict)}">${e(h.verdict.toUpperCase())}</span></td><td><a href="/reports/${e(h.report_id)}.html?lang=${lang}">${e(w.qualification)}</a></td></tr>`).join('')}</tbody></table>`;
  return htmlPage({ lang, title: `${site.establishment || siteKey} — ${w.timeline}`, body });
}

export async function renderVersions(fleet: FleetView, lang: Lang): Promise<string> {
  const w = WORDS[lang];
  const versions = await fleet.versions();
  const body = `<nav><a href="/fleet?lang=${lang}">← ${e(w.back)}</a></nav><h1>${e(w.versions)}</h1>
<table data-testid="versions"><thead><tr><th>${e(w.version)}</th><th class="num">${e(w.sites)}</th><th></th></tr></thead><tbody>${versions.map((v) => `<tr><td>${e(v.version)}</td><td class="num">${v.sites.length}</td><td class="muted">${v.sites.map((s) => e(s)).join(', ')}</td></tr>`).join('')}</tbody></table>`;
  return htmlPage({ lang, title: w.versions, body });
}
