import type { VerdictLine } from './verdict.js';

// The verdict as the auditor reads it at the end of a run, French by default.

const WORDS = {
  fr: {
    title: 'Qualification du lien',
    verdict: 'Verdict',
    report: 'Rapport',
    todo: 'À faire',
    metric: 'mesure',
    value: 'valeur',
    limit: 'limite',
    margin: 'marge',
  },
  en: { title: 'Link qualification', verdict: 'Verdict', report: 'Report', todo: 'To do', metric: 'metric', value: 'value', limit: 'limit', margin: 'margin' },
} as const;

export const METRIC_NAMES: Record<string, { fr: string; en: string }> = {
  up_mbps: { fr: 'débit montant', en: 'upload' },
  down_mbps: { fr: 'débit descendant', en: 'download' },
  rtt_ms: { fr: 'latence (RTT moyen)', en: 'latency (mean RTT)' },
  ipdv_ms: { fr: 'gigue (IPDV moyen)', en: 'jitter (mean IPDV)' },
  pdv_ms: { fr: 'variation de délai (PDV p99)', en: 'delay variation (PDV p99)' },
  loss_pct: { fr: 'pertes', en: 'loss' },
  loaded_rtt_increase_ms: { fr: 'latence en charge (hausse)', en: 'latency under load (increase)' },
  dscp_up: { fr: 'DSCP vers l’hôpital', en: 'DSCP towards the hospital' },
  dscp_down: { fr: 'DSCP vers l’USMP', en: 'DSCP towards the USMP' },
  appliance_cpu_pct: { fr: 'CPU du boîtier', en: 'appliance CPU' },
  y1564_ramp_loss_pct: { fr: 'pertes, rampe Y.1564 (pire palier)', en: 'loss, Y.1564 ramp (worst step)' },
};

export function renderSummary(
  input: { verdict: string; lines: VerdictLine[]; hints: string[]; reportPath: string; profileTitle: string; target: string },
  lang: 'fr' | 'en',
): string {
  const w = WORDS[lang];
  const rows = input.lines.map((l) => [
    METRIC_NAMES[l.metric]?.[lang] ?? l.metric,
    l.value === null ? '—' : `${l.value}${l.unit && typeof l.value === 'number' ? ` ${l.unit}` : ''}`,
    l.limit ?? '',
    l.margin === null ? '' : `${l.margin > 0 ? '+' : ''}${l.margin}`,
    l.verdict.toUpperCase(),
  ]);
  const header = [w.metric, w.value, w.limit, w.margin, ''];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const fmt = (r: string[]): string =>
    r
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [
    `${w.title} — ${input.target} — ${input.profileTitle}`,
    fmt(header),
    ...rows.map(fmt),
    `${w.verdict}: ${input.verdict.toUpperCase()}`,
    ...(input.hints.length > 0 ? [`${w.todo}:`, ...input.hints.map((h) => `  - ${h}`)] : []),
    `${w.report}: ${input.reportPath}`,
  ].join('\n');
}
