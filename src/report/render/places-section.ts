import type { PlaceSection } from '../../station/place-book.js';
import { limitingSentence } from '../../station/place-wording.js';
import { escapeHtml as e } from './html-page.js';
import { formatNumber, labels, type Lang } from './i18n.js';

// The report's places: one block per place tested from a care station (`qualify --station`),
// its verdict, the sentence naming the limiting segment, and the two segments beside the end
// to end figures. data-* attributes carry report.json's values for the tests.

function worstIncrease(v: { up: number | null; down: number | null } | number | null): number | null {
  if (v === null || typeof v === 'number') return v;
  const xs = [v.up, v.down].filter((x): x is number => x !== null);
  return xs.length === 0 ? null : Math.max(...xs);
}

interface SegmentRow {
  down_mbps: number | null;
  up_mbps: number | null;
  rtt_ms: number;
  loss_pct: number;
  loaded_rtt_increase_ms: { up: number | null; down: number | null } | number | null;
}

function segmentRow(label: string, s: SegmentRow | null, testid: string, lang: Lang): string {
  const n = (x: number | null | undefined, digits = 1): string => `<td class="num">${e(formatNumber(x ?? null, lang, digits))}</td>`;
  if (!s) return `<tr data-testid="${testid}"><th>${e(label)}</th><td colspan="5" class="muted">—</td></tr>`;
  return `<tr data-testid="${testid}" data-down="${e(s.down_mbps)}" data-up="${e(s.up_mbps)}"><th>${e(label)}</th>${n(s.down_mbps)}${n(s.up_mbps)}${n(s.rtt_ms)}${n(worstIncrease(s.loaded_rtt_increase_ms))}${n(s.loss_pct, 2)}</tr>`;
}

export function placesSection(places: readonly PlaceSection[], lang: Lang): string {
  const t = labels(lang);
  const blocks = places.map((p, i) => {
    const verdictClass = p.verdict === 'pass' ? 'v-pass' : p.verdict === 'fail' ? 'v-fail' : 'v-stale';
    return `<section class="place" data-testid="place-${i}" data-limiting="${e(p.limiting?.segment ?? '')}" data-verdict="${e(p.verdict)}">
<h3>${e(p.name)} <span class="verdict ${verdictClass}">${e(t(`place_${p.verdict}`))}</span></h3>
<p data-testid="place-${i}-said">${e(limitingSentence(p, lang))}</p>
<table><tr><th>${e(t('segment'))}</th><th>${e(t('down_mbps'))}</th><th>${e(t('up_mbps'))}</th><th>${e(t('idle_rtt_ms'))}</th><th>${e(t('loaded_increase_ms'))}</th><th>${e(t('loss_pct'))}</th></tr>
${segmentRow(t('seg_internal'), p.internal, `place-${i}-internal`, lang)}
${segmentRow(t('seg_hospital_link'), p.hospital_link, `place-${i}-hospital-link`, lang)}
${segmentRow(t('seg_end_to_end'), p.end_to_end, `place-${i}-end-to-end`, lang)}
</table>
<p class="muted">${e(p.measured_at)} · ${e(p.internal.browser_address)} · ${e(p.internal.streams)} TCP</p>
</section>`;
  });
  return `<p class="muted">${e(t('places_intro'))}</p>\n${blocks.join('\n')}`;
}
