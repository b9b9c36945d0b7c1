import { METRIC_NAMES } from '../../qualify/summary.js';
import type { Histogram } from '../histogram.js';
import type { DscpDirection, ReportDocument, ReportLine } from '../report-document.js';
import { groupedBars, histogramChart, lineChart, PALETTE } from './charts.js';
import { escapeHtml as e, htmlPage } from './html-page.js';
import { formatNumber, labels, type LabelKey, type Lang } from './i18n.js';
import { placesSection } from './places-section.js';

// The report a person reads, prints and signs off: identity, verdict, one line per criterion
// with its limit and margin (as cable certifiers print a test), what to do, the charts, and the
// traceability (raw-data hash, signature). Key figures carry data-* attributes with the exact
// values of report.json, so tests compare the page with the file.

export async function renderReportHtml(report: ReportDocument, lang: Lang): Promise<string> {
  const t = labels(lang);
  const s = report.site;
  const title = `${t('report_title')} — ${s.establishment || s.appliance_id}`;
  const body = [
    `<header><h1>${e(t('report_title'))}</h1><div class="muted">${e(s.establishment || t('not_given'))} · ${e(s.usmp)} · ${e(dateTime(report.started_at, lang))}</div></header>`,
    verdictBanner(report, lang),
    `<h2>${e(t('site'))}</h2>${siteTable(report, lang)}`,
    `<h2>${e(t('run'))}</h2>${runTable(report, lang)}`,
    `<h2>${e(t('results'))}</h2>${linesTable(report.lines, lang)}`,
    `<h2>${e(t('remediation'))}</h2>${remediation(report, lang)}`,
    ...(report.places && report.places.length > 0 ? [`<h2 id="places">${e(t('places'))}</h2>${placesSection(report.places, lang)}`] : []),
    `<h2>${e(t('charts'))}</h2><div class="charts">${(await charts(report, lang)).join('\n')}</div>`,
    `<h2>${e(t('dscp'))}</h2>${dscpTable(report, lang)}`,
    `<h2>${e(t('traceability'))}</h2>${traceability(report, lang)}`,
    `<h2>${e(t('sign_off'))}</h2><table class="signoff"><tr><th>${e(t('sign_auditor'))}</th><th>${e(t('sign_it'))}</th></tr><tr><td></td><td></td></tr></table>`,
  ].join('\n');
  return htmlPage({ lang, title, body });
}

export function verdictClass(verdict: string): string {
  return `verdict v-${verdict}`;
}

function verdictBanner(r: ReportDocument, lang: Lang): string {
  const t = labels(lang);
  return `<div class="banner"><span class="${verdictClass(r.verdict)} big" data-testid="verdict" data-value="${e(r.verdict)}">${e(r.verdict.toUpperCase())}</span>
<span>${e(t('profile'))} <b>${e(r.profile)}</b> · ${e(t('plan'))} ${e(r.plan)} · ${e(t('target'))} ${e(r.target)}</span>
<span>${e(t('remediation'))}: <b data-testid="remediation" data-value="${e(r.remediation.category)}">${e(t(`cat_${r.remediation.category}`))}</b></span></div>`;
}

function kv(rows: Array<[string, string]>): string {
  return `<table class="kv">${rows.map(([k, v]) => `<tr><th>${e(k)}</th><td>${v}</td></tr>`).join('')}</table>`;
}

function orNotGiven(value: string | null | undefined, lang: Lang): string {
  return value ? e(value) : `<span class="muted">${e(labels(lang)('not_given'))}</span>`;
}

function siteTable(r: ReportDocument, lang: Lang): string {
  const t = labels(lang);
  const s = r.site;
  return kv([
    [t('establishment'), `<span data-testid="establishment">${orNotGiven(s.establishment, lang)}</span>`],
    [t('establishment_code'), `<span data-testid="establishment_code">${orNotGiven(s.establishment_code, lang)}</span>`],
    [t('region'), orNotGiven(s.region, lang)],
    [t('usmp'), orNotGiven(s.usmp, lang)],
    [t('hospital'), orNotGiven(s.hospital, lang)],
    ...(s.hospital_used ? [[t('hospital_used'), e(s.hospital_used)] as [string, string]] : []),
    [t('link'), orNotGiven([s.link.type, s.link.operator].filter(Boolean).join(', '), lang)],
    [t('cabling_date'), orNotGiven(s.cabling_date, lang)],
    [t('connection_date'), orNotGiven(s.connection_date, lang)],
    [t('equipment'), s.equipment.length ? e(s.equipment.join(', ')) : orNotGiven('', lang)],
    [t('auditor'), orNotGiven(s.auditor, lang)],
    [t('appliance_id'), e(s.appliance_id)],
  ]);
}

function runTable(r: ReportDocument, lang: Lang): string {
  const t = labels(lang);
  return kv([
    [t('target'), e(r.target)],
    [t('profile'), e(r.profile)],
    [t('plan'), e(r.plan)],
    [t('started_at'), e(dateTime(r.started_at, lang))],
    [t('duration'), `${formatNumber(r.duration_s, lang, 0)} s`],
    [t('software'), e(r.software ? `${r.software.name} ${r.software.version}` : '')],
  ]);
}

function metricName(metric: string, lang: Lang): string {
  return METRIC_NAMES[metric]?.[lang] ?? metric;
}

function lineValue(l: ReportLine, lang: Lang): string {
  if (typeof l.value !== 'number') return e(l.value ?? '—');
  return `${formatNumber(l.value, lang, 2)}${l.unit ? ` ${e(l.unit)}` : ''}`;
}

function linesTable(lines: ReportLine[], lang: Lang): string {
  const t = labels(lang);
  const rows = lines.map(
    (l) =>
      `<tr data-metric="${e(l.metric)}"><td>${e(metricName(l.metric, lang))}</td><td class="num" data-value="${e(l.value)}">${lineValue(l, lang)}</td><td class="num">${e(l.limit ?? '')}${l.limit && l.unit && typeof l.value === 'number' ? ` ${e(l.unit)}` : ''}</td><td class="num">${l.margin === null ? '' : `${l.margin > 0 ? '+' : ''}${formatNumber(l.margin, lang, 2)}`}</td><td><span class="${verdictClass(l.verdict)}" data-verdict="${e(l.verdict)}">${e(l.verdict.toUpperCase())}</span></td><td class="muted">${e(l.source)}</td></tr>`,
  );
  return `<table data-testid="lines"><thead><tr><th>${e(t('metric'))}</th><th class="num">${e(t('value'))}</th><th class="num">${e(t('limit'))}</th><th class="num">${e(t('margin'))}</th><th>${e(t('verdict'))}</th><th>${e(t('source'))}</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

function remediation(r: ReportDocument, lang: Lang): string {
  const t = labels(lang);
  const m = r.remediation.missing_mbps;
  const missing = m
    ? ` — ${e(t('missing'))} ${e(t('up'))} <b>${formatNumber(m.up, lang, 1)}</b> Mbit/s, ${e(t('down'))} <b>${formatNumber(m.down, lang, 1)}</b> Mbit/s`
    : '';
  const hints = r.remediation.hints.length ? `<ul>${r.remediation.hints.map((h) => `<li>${e(h)}</li>`).join('')}</ul>` : '';
  return `<p><b>${e(t(`cat_${r.remediation.category}`))}</b>${missing}</p>${hints}`;
}

function limitOf(lines: ReportLine[], metric: string): number | undefined {
  const limit = lines.find((l) => l.metric === metric)?.limit;
  const n = limit ? Number(limit.replace(/[^0-9.,]/g, '').replace(',', '.')) : NaN;
  return Number.isFinite(n) ? n : undefined;
}

function figure(caption: string, svg: string, testid: string): string {
  return `<figure data-testid="${e(testid)}"><figcaption>${e(caption)}</figcaption>${svg}</figure>`;
}

async function charts(r: ReportDocument, lang: Lang): Promise<string[]> {
  const t = labels(lang);
  const out: string[] = [];
  const up = r.details?.load?.['up']?.throughput?.up?.series_mbps ?? [];
  const down = r.details?.load?.['down']?.throughput?.down?.series_mbps ?? [];
  if (up.length || down.length) {
    const n = Math.max(up.length, down.length);
    const min = limitOf(r.lines, 'up_mbps');
    out.push(
      figure(
        t('throughput_over_time'),
        await lineChart({
          x: Array.from({ length: n }, (_, i) => i + 1),
          yName: 'Mbit/s',
          series: [
            { name: t('up'), values: up, color: PALETTE.up },
            { name: t('down'), values: down, color: PALETTE.down },
          ],
          limit: min === undefined ? undefined : { value: min, label: `${t('limit')} ${formatNumber(min, lang)}` },
        }),
        'chart-throughput',
      ),
    );
  }
  const dist = r.details?.distributions ?? {};
  const hist = async (h: Histogram | undefined, caption: string, testid: string): Promise<void> => {
    if (h) out.push(figure(caption, await histogramChart({ histogram: h, name: t('probes'), color: PALETTE.idle, xName: 'ms' }), testid));
  };
  await hist(dist['idle_rtt_ms'], t('rtt_distribution'), 'chart-rtt');
  await hist(dist['idle_ipdv_ms'], t('ipdv_distribution'), 'chart-ipdv');
  const idle = r.details?.idle?.rtt_ms;
  const loadedUp = r.details?.load?.['up']?.loaded?.rtt_ms;
  const loadedDown = r.details?.load?.['down']?.loaded?.rtt_ms;
  if (idle && (loadedUp || loadedDown)) {
    const pick = (x: typeof idle | undefined) => (x ? [x.median, x.p95, x.p99].map((v) => Math.round(v * 10) / 10) : [null, null, null]);
    out.push(
      figure(
        t('latency_under_load'),
        await groupedBars({
          categories: ['médiane / median', 'p95', 'p99'],
          yName: 'RTT ms',
          series: [
            { name: t('idle'), values: pick(idle), color: PALETTE.idle },
            { name: t('loaded_up'), values: pick(loadedUp), color: PALETTE.up },
            { name: t('loaded_down'), values: pick(loadedDown), color: PALETTE.down },
          ],
        }),
        'chart-load',
      ),
    );
  }
  out.push(await qosProof(r, lang));
  return out;
}

async function qosProof(r: ReportDocument, lang: Lang): Promise<string> {
  const t = labels(lang);
  const v = r.qos?.last_verify;
  if (!r.qos) return `<figure data-testid="chart-qos"><figcaption>${e(t('qos_proof'))}</figcaption><p class="muted">${e(t('no_qos'))}</p></figure>`;
  if (!v) return `<figure data-testid="chart-qos"><figcaption>${e(t('qos_proof'))}</figcaption><p class="muted">${e(t('qos_not_verified'))}</p></figure>`;
  const svg = await groupedBars({
    categories: [`Mbit/s ${t('up')}`, `Mbit/s ${t('down')}`, 'RTT ms (p95)'],
    yName: '',
    series: [
      {
        name: `${t('telemedicine')} (${v.class})`,
        values: [v.telemedicine.up.delivered_mbps, v.telemedicine.down.delivered_mbps, v.telemedicine.rtt_loaded_ms.p95].map(round1),
        color: PALETTE.idle,
      },
      {
        name: t('best_effort'),
        values: [v.best_effort.up_mbps, v.best_effort.down_mbps, null].map((x) => (x === null ? null : round1(x))),
        color: PALETTE.best,
      },
      { name: `${t('idle')} RTT`, values: [null, null, round1(v.telemedicine.rtt_idle_ms.p95)], color: PALETTE.limit },
    ],
  });
  return `${figure(`${t('qos_proof')} — ${v.verdict.toUpperCase()} (${dateTime(v.at, lang)})`, svg, 'chart-qos')}${linkLayerLine(r, lang)}`;
}

function linkLayerLine(r: ReportDocument, lang: Lang): string {
  const t = labels(lang);
  const l = r.qos?.link_layer;
  if (!l) return '';
  const what = l.type === 'none' ? t('link_layer_none') : `${l.preset}: ${l.type}, overhead ${l.overhead} octets, mpu ${l.mpu}`;
  return `<p class="muted" data-testid="qos-link-layer">${e(t('link_layer'))} : ${e(what)}</p>`;
}

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}

const DSCP_STATUS: Record<string, LabelKey> = {
  preserved: 'dscp_preserved',
  remarked: 'dscp_remarked',
  bleached: 'dscp_bleached',
  'not-verified': 'dscp_not_verified',
};

function dscpTable(r: ReportDocument, lang: Lang): string {
  const t = labels(lang);
  const classes = r.details?.dscp?.classes ?? [];
  if (classes.length === 0) return `<p>${e(t('up'))}: <b>${e(r.measurements.dscp.up)}</b> · ${e(t('down'))}: <b>${e(r.measurements.dscp.down)}</b></p>`;
  const status = (s: string) => (DSCP_STATUS[s] ? t(DSCP_STATUS[s]) : s);
  const cell = (d: DscpDirection | undefined) => {
    if (!d) return '—';
    const why = d.reason !== undefined ? d.reason : `${t('sent')} ${d.sent ?? '?'}, ${t('received')} ${d.received ?? '?'}`;
    return `${e(status(d.status))} <span class="muted">(${e(why)})</span>`;
  };
  return `<table><thead><tr><th>${e(t('class'))}</th><th>${e(t('up'))}</th><th>${e(t('down'))}</th></tr></thead><tbody>${classes.map((c) => `<tr><td>${e(c.class)}</td><td>${cell(c.up)}</td><td>${cell(c.down)}</td></tr>`).join('')}</tbody></table><p class="muted">${e(r.details?.dscp?.method ?? '')}</p>`;
}

function traceability(r: ReportDocument, lang: Lang): string {
  const t = labels(lang);
  const h = r.host;
  const sig = r.signature;
  return kv([
    ['report_id', `<span class="mono" data-testid="report_id">${e(r.report_id)}</span>`],
    [t('raw_sha256'), `<span class="mono" data-testid="raw_sha256">${e(r.raw_sha256)}</span>`],
    [
      t('signature'),
      sig
        ? `<span class="mono" data-testid="signature">key ${e(sig.key_id)} · ${e(dateTime(sig.signed_at, lang))}</span>`
        : `<span data-testid="signature">${e(t('unsigned'))}</span>`,
    ],
    ...(h
      ? [
          [
            t('nic'),
            e(
              `${h.interface ?? '?'} ${h.speed_mbps ?? '?'} Mbit/s ${h.duplex ?? ''} MTU ${h.mtu ?? '?'}, errors rx ${h.rx_errors ?? 0} / tx ${h.tx_errors ?? 0}`,
            ),
          ] as [string, string],
        ]
      : []),
    ...Object.entries(r.methods ?? {}).map(([k, v]) => [`${t('methods')}: ${k}`, `<span class="muted">${e(v)}</span>`] as [string, string]),
  ]);
}

export function dateTime(iso: string, lang: Lang): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return new Intl.DateTimeFormat(lang === 'fr' ? 'fr-FR' : 'en-GB', { dateStyle: 'medium', timeStyle: 'short', timeZone: 'Europe/Paris' }).format(d);
}
