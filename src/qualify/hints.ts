// What to do, in the auditor's language (French by default, like the report).

export type { Lang } from '../report/render/i18n.js';
import type { Lang } from '../report/render/i18n.js';

type Hint = (p: Record<string, string | number>) => string;

const HINTS: Record<string, Record<Lang, Hint>> = {
  rate_up: {
    fr: (p) =>
      `Débit montant insuffisant : ${p['value']} Mbit/s mesurés, ${p['limit']} Mbit/s requis (il manque ${p['missing']} Mbit/s). Demander à l'opérateur un lien symétrique plus rapide.`,
    en: (p) =>
      `Upload too low: ${p['value']} Mbit/s measured, ${p['limit']} Mbit/s needed (missing ${p['missing']} Mbit/s). Ask the operator for a faster symmetric link.`,
  },
  rate_down: {
    fr: (p) =>
      `Débit descendant insuffisant : ${p['value']} Mbit/s mesurés, ${p['limit']} Mbit/s requis (il manque ${p['missing']} Mbit/s). Demander à l'opérateur un lien symétrique plus rapide.`,
    en: (p) =>
      `Download too low: ${p['value']} Mbit/s measured, ${p['limit']} Mbit/s needed (missing ${p['missing']} Mbit/s). Ask the operator for a faster symmetric link.`,
  },
  rtt: {
    fr: (p) => `Latence trop élevée (${p['value']} ms) : vérifier avec l'opérateur la route vers l'hôpital.`,
    en: (p) => `Latency too high (${p['value']} ms): check the route to the hospital with the operator.`,
  },
  loss: {
    fr: (p) => `Des paquets sont perdus sur le lien (${p['value']} %) : vérifier le lien de l'opérateur et le câblage du site.`,
    en: (p) => `Packets are lost on the link (${p['value']} %): check the operator's link and the site's cabling.`,
  },
  jitter: {
    fr: () => "Le délai varie trop même lien au repos : rechercher un trafic concurrent et interroger l'opérateur.",
    en: () => 'Delay varies too much even when the link is idle: check for competing traffic and ask the operator.',
  },
  bloat: {
    fr: (p) =>
      `La latence augmente de ${p['value']} ms quand le lien est chargé (bufferbloat) : appliquer la QoS au flux de télémédecine (usmp-edge qos) pour que la vidéo reste prioritaire.`,
    en: (p) =>
      `Latency grows by ${p['value']} ms when the link is busy (bufferbloat): enforce QoS for the telemedicine flow (usmp-edge qos) so video keeps priority.`,
  },
  dscp_up: {
    fr: (p) =>
      `Les marquages DSCP sont modifiés vers l'hôpital (${p['value']}) : demander à l'opérateur de conserver EF/AF41, ou appliquer la QoS aux deux extrémités.`,
    en: (p) => `DSCP marks are altered towards the hospital (${p['value']}): ask the operator to keep EF/AF41, or enforce QoS at both ends.`,
  },
  dscp_down: {
    fr: (p) =>
      `Les marquages DSCP sont modifiés vers l'USMP (${p['value']}) : demander à l'opérateur de conserver EF/AF41, ou appliquer la QoS aux deux extrémités.`,
    en: (p) => `DSCP marks are altered towards the USMP (${p['value']}): ask the operator to keep EF/AF41, or enforce QoS at both ends.`,
  },
  cabling: {
    fr: (p) => `Câblage interne suspecté : ${p['problem']}.`,
    en: (p) => `Internal cabling suspected: ${p['problem']}.`,
  },
  bottleneck: {
    fr: () => 'Le boîtier lui-même était saturé (CPU ≥ 90 %) pendant les tests : ses débits sont une borne basse du lien.',
    en: () => 'The appliance itself was saturated (CPU ≥ 90 %) during the tests: its throughput figures are a lower bound of the link.',
  },
  dscp_unverified: {
    fr: (p) => `DSCP non vérifié : ${p['reason']}.`,
    en: (p) => `DSCP not verified: ${p['reason']}.`,
  },
};

export function hint(key: keyof typeof HINTS, lang: Lang, params: Record<string, string | number> = {}): string {
  return HINTS[key]![lang](params);
}
