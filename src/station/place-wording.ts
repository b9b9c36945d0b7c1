import type { PlaceSection } from './place-book.js';
import type { Segment } from './segment-figures.js';

// How a place's verdict is said to the auditor, on the page and in the report, in both languages.

type Lang = 'fr' | 'en';

export const SEGMENT_NAMES: Record<Segment, Record<Lang, string>> = {
  internal: { fr: 'réseau interne à cet endroit', en: 'internal network at this place' },
  hospital_link: { fr: "lien vers l'hôpital", en: 'link to the hospital' },
};

const DIRECTION: Record<'up' | 'down', Record<Lang, string>> = {
  up: { fr: 'en montée', en: 'up' },
  down: { fr: 'en descente', en: 'down' },
};

export function formatMbps(x: number | null, lang: Lang): string {
  if (x === null) return '—';
  const text = x >= 100 ? x.toFixed(0) : x.toFixed(1);
  return lang === 'fr' ? text.replace('.', ',') : text;
}

/** "Limited by the internal network at this place: 9.4 Mbit/s up; the link to the hospital gives 19.1." */
export function limitingSentence(place: PlaceSection, lang: Lang): string {
  const l = place.limiting;
  if (!l) return lang === 'fr' ? `Mesure incomplète : ${place.error?.reason ?? ''}` : `Incomplete: ${place.error?.reason ?? ''}`;
  const other: Segment = l.segment === 'internal' ? 'hospital_link' : 'internal';
  const own = `${formatMbps(l.mbps, lang)} Mbit/s ${DIRECTION[l.direction][lang]}`;
  const theirs = formatMbps(l.other_mbps, lang);
  const failing = place.failures.map((f) => f.metric).join(', ');
  if (lang === 'fr') {
    const head = `Limité par le ${SEGMENT_NAMES[l.segment].fr} : ${own} ; le ${SEGMENT_NAMES[other].fr} donne ${theirs}.`;
    return failing ? `${head} Hors limites : ${failing}.` : head;
  }
  const head = `Limited by the ${SEGMENT_NAMES[l.segment].en}: ${own}; the ${SEGMENT_NAMES[other].en} gives ${theirs}.`;
  return failing ? `${head} Out of limits: ${failing}.` : head;
}
