// Labels of the printed report and the national dashboard. French first: the auditors, prison
// IT and the national team read French; English for the hospital IT of a partner or a review.

export type Lang = 'fr' | 'en';

const LABELS = {
  report_title: { fr: 'Rapport de qualification du lien de télémédecine', en: 'Telemedicine link qualification report' },
  site: { fr: 'Site', en: 'Site' },
  establishment: { fr: 'Établissement', en: 'Establishment' },
  establishment_code: { fr: 'Code établissement', en: 'Establishment code' },
  region: { fr: 'Direction interrégionale', en: 'Region' },
  usmp: { fr: 'USMP', en: 'Prison health unit (USMP)' },
  hospital: { fr: 'CH de rattachement', en: 'Attached hospital' },
  hospital_used: { fr: 'Hôpital effectivement joint', en: 'Hospital actually reached' },
  link: { fr: 'Lien (type, opérateur)', en: 'Link (type, operator)' },
  cabling_date: { fr: 'Date de câblage', en: 'Cabling date' },
  connection_date: { fr: 'Date de raccordement', en: 'Connection date' },
  equipment: { fr: 'Équipements de télémédecine', en: 'Telemedicine equipment' },
  auditor: { fr: 'Auditeur', en: 'Auditor' },
  appliance_id: { fr: 'Boîtier', en: 'Appliance' },
  run: { fr: 'Mesure', en: 'Run' },
  target: { fr: 'Répondeur', en: 'Responder' },
  profile: { fr: 'Profil', en: 'Profile' },
  plan: { fr: 'Plan de test', en: 'Test plan' },
  started_at: { fr: 'Début', en: 'Started' },
  duration: { fr: 'Durée', en: 'Duration' },
  verdict: { fr: 'Verdict', en: 'Verdict' },
  results: { fr: 'Résultats par critère', en: 'Results per criterion' },
  metric: { fr: 'Critère', en: 'Metric' },
  value: { fr: 'Mesuré', en: 'Measured' },
  limit: { fr: 'Limite', en: 'Limit' },
  margin: { fr: 'Marge', en: 'Margin' },
  source: { fr: 'Référence', en: 'Reference' },
  remediation: { fr: 'Remédiation', en: 'Remediation' },
  charts: { fr: 'Graphiques', en: 'Charts' },
  throughput_over_time: { fr: 'Débit dans le temps (TCP, côté récepteur)', en: 'Throughput over time (TCP, receiver side)' },
  rtt_distribution: { fr: 'Distribution du RTT au repos', en: 'Idle RTT distribution' },
  ipdv_distribution: { fr: 'Distribution de la variation de délai (IPDV)', en: 'Delay variation distribution (IPDV)' },
  latency_under_load: { fr: 'Latence sous charge', en: 'Latency under load' },
  qos_proof: { fr: 'Preuve de QoS', en: 'QoS proof' },
  dscp: { fr: 'Marquage DSCP de bout en bout', en: 'DSCP end to end' },
  up: { fr: 'montant', en: 'up' },
  down: { fr: 'descendant', en: 'down' },
  idle: { fr: 'au repos', en: 'idle' },
  loaded_up: { fr: 'sous charge montante', en: 'loaded up' },
  loaded_down: { fr: 'sous charge descendante', en: 'loaded down' },
  seconds: { fr: 's', en: 's' },
  probes: { fr: 'sondes', en: 'probes' },
  class: { fr: 'Classe', en: 'Class' },
  sent: { fr: 'envoyé', en: 'sent' },
  received: { fr: 'reçu', en: 'received' },
  no_qos: { fr: 'Aucune politique de QoS n\'est configurée sur ce boîtier.', en: 'No QoS policy is configured on this appliance.' },
  qos_not_verified: { fr: 'Politique de QoS configurée, pas encore vérifiée (usmp-edge qos verify).', en: 'QoS policy configured, not yet verified (usmp-edge qos verify).' },
  telemedicine: { fr: 'Télémédecine', en: 'Telemedicine' },
  best_effort: { fr: 'Autres flux', en: 'Best effort' },
  committed: { fr: 'garanti', en: 'committed' },
  delivered: { fr: 'obtenu', en: 'delivered' },
  traceability: { fr: 'Traçabilité', en: 'Traceability' },
  raw_sha256: { fr: 'SHA-256 des mesures brutes', en: 'SHA-256 of the raw data' },
  signature: { fr: 'Signature Ed25519', en: 'Ed25519 signature' },
  unsigned: { fr: 'non signé', en: 'unsigned' },
  software: { fr: 'Logiciel', en: 'Software' },
  methods: { fr: 'Méthodes', en: 'Methods' },
  nic: { fr: 'Interface réseau du boîtier', en: 'Appliance network interface' },
  sign_off: { fr: 'Visa', en: 'Sign-off' },
  sign_auditor: { fr: 'Auditeur (nom, date, signature)', en: 'Auditor (name, date, signature)' },
  sign_it: { fr: 'Informatique de l\'établissement (nom, date, signature)', en: 'Prison IT (name, date, signature)' },
  none: { fr: 'aucune', en: 'none' },
  not_given: { fr: 'non renseigné', en: 'not given' },
  cat_none: { fr: 'Aucune', en: 'None' },
  cat_qos: { fr: 'QoS à mettre en place', en: 'QoS needed' },
  'cat_link-upgrade': { fr: 'Montée en débit du lien', en: 'Link upgrade' },
  'cat_internal-cabling': { fr: 'Câblage interne suspecté', en: 'Internal cabling suspected' },
  missing: { fr: 'manque', en: 'missing' },
  // dashboard
  dashboard_title: { fr: 'Suivi national des liens de télémédecine des USMP', en: 'National follow-up of USMP telemedicine links' },
  sites: { fr: 'Sites', en: 'Sites' },
  last_report: { fr: 'Dernier rapport', en: 'Last report' },
  age_days: { fr: 'Âge (jours)', en: 'Age (days)' },
  reports: { fr: 'Rapports', en: 'Reports' },
  status: { fr: 'État', en: 'Status' },
  all: { fr: 'Tous', en: 'All' },
  filter: { fr: 'Filtrer', en: 'Filter' },
  history: { fr: 'Historique', en: 'History' },
  export_csv: { fr: 'Export CSV', en: 'CSV export' },
  export_json: { fr: 'Export JSON', en: 'JSON export' },
  export_pscheduler: { fr: 'Export pScheduler (perfSONAR)', en: 'pScheduler export (perfSONAR)' },
  status_qualified: { fr: 'Qualifié', en: 'Qualified' },
  status_marginal: { fr: 'Qualifié (marge faible)', en: 'Qualified (marginal)' },
  status_not_qualified: { fr: 'Non qualifié', en: 'Not qualified' },
  status_stale: { fr: 'À re-qualifier (> 180 j)', en: 'To re-qualify (> 180 d)' },
  rtt_over_time: { fr: 'RTT moyen par rapport', en: 'Mean RTT per report' },
  throughput_per_report: { fr: 'Débit par rapport', en: 'Throughput per report' },
  page: { fr: 'Page', en: 'Page' },
  loss_pct_short: { fr: 'Pertes %', en: 'Loss %' },
  report_link: { fr: 'rapport', en: 'report' },
  back: { fr: 'Retour au tableau national', en: 'Back to the national table' },
} as const;

export type LabelKey = keyof typeof LABELS;

export function label(key: LabelKey, lang: Lang): string {
  return LABELS[key][lang];
}

/** A translator bound to one language. */
export function labels(lang: Lang): (key: LabelKey) => string {
  return (key) => LABELS[key][lang];
}

/** 12,5 in French, 12.5 in English. */
export function formatNumber(value: number | null | undefined, lang: Lang, digits = 1): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '—';
  return new Intl.NumberFormat(lang === 'fr' ? 'fr-FR' : 'en-GB', { maximumFractionDigits: digits, minimumFractionDigits: 0 }).format(value);
}
