import type { ReportDocument, Verdict } from '../report/report-document.js';

// What the collector keeps, behind an interface: one implementation (sql-report-store.ts) over
// SQLite or PostgreSQL, and nothing in intake, dashboard or exports knows which.

/** The columns of ReportSummary, in the order the tables hold them. */
export const SUMMARY_COLUMNS = [
  'report_id',
  'site_key',
  'establishment_code',
  'establishment',
  'region',
  'usmp',
  'hospital',
  'appliance_id',
  'started_at',
  'received_at',
  'ordered_at',
  'verdict',
  'profile',
  'up_mbps',
  'down_mbps',
  'rtt_mean_ms',
  'ipdv_mean_ms',
  'loss_pct',
  'loaded_rtt_increase_ms',
  'remediation',
  'missing_up_mbps',
  'missing_down_mbps',
] as const satisfies ReadonlyArray<keyof ReportSummary>;

/** The figures of one report that the national views show. */
export interface ReportSummary {
  report_id: string;
  site_key: string;
  establishment_code: string;
  establishment: string;
  region: string;
  usmp: string;
  hospital: string;
  appliance_id: string;
  started_at: string;
  received_at: string;
  /**
   * What the site's current state is ordered by: the signature's time, bounded by receipt
   * (min of the two). A sender cannot pin a report as current with a date it writes alone.
   */
  ordered_at: string;
  verdict: Verdict;
  profile: string;
  up_mbps: number | null;
  down_mbps: number | null;
  rtt_mean_ms: number;
  ipdv_mean_ms: number;
  loss_pct: number;
  loaded_rtt_increase_ms: number | null;
  remediation: string;
  missing_up_mbps: number | null;
  missing_down_mbps: number | null;
}

/** A site as of its latest report (by ordered_at), and how many reports it has. */
export interface SiteSummary extends ReportSummary {
  report_count: number;
}

export interface SiteFilter {
  region?: string | undefined;
  verdict?: string | undefined;
  offset?: number;
  limit?: number;
}

export type AddOutcome = 'stored' | 'duplicate' | 'conflict';

/**
 * Which sites a reader may see: every one (the national role), or those of some regions and
 * some establishments. Every read goes through a scope, so counts and totals are scoped too.
 */
export type SiteScope = { kind: 'all' } | { kind: 'some'; regions: readonly string[]; establishments: readonly string[] };

export const EVERY_SITE: SiteScope = { kind: 'all' };

export interface ReportStore {
  /**
   * Stores a verified report; idempotent by report_id (the same text again: 'duplicate'), also
   * when several collectors take the same report at once.
   */
  add(report: ReportDocument, text: string, receivedAt: Date): Promise<AddOutcome>;
  /** The reports as one reader may see them. */
  scoped(scope: SiteScope): ReportView;
  count(): Promise<number>;
}

/** What a reader sees: the national views' reads, limited to the reader's sites. */
export interface ReportView {
  sites(filter?: SiteFilter): Promise<{ rows: SiteSummary[]; total: number }>;
  regions(): Promise<string[]>;
  /** Verdict of each site's latest report → number of sites. */
  verdictCounts(filter?: Pick<SiteFilter, 'region'>): Promise<Record<string, number>>;
  siteHistory(siteKey: string): Promise<ReportSummary[]>;
  reportText(reportId: string): Promise<string | undefined>;
  /** Every stored report, oldest first, a page at a time (exports never hold them all). */
  eachReport(): AsyncIterable<ReportDocument>;
  count(): Promise<number>;
}

/** The key a site is filed under: its establishment code, or its appliance when it has none. */
export function siteKeyOf(report: ReportDocument): string {
  return report.site.establishment_code || `appliance:${report.site.appliance_id}`;
}

function orderedAt(report: ReportDocument, receivedAt: Date): string {
  const signedAt = report.signature ? Date.parse(report.signature.signed_at) : Number.NaN;
  return new Date(Number.isNaN(signedAt) ? receivedAt.getTime() : Math.min(signedAt, receivedAt.getTime())).toISOString();
}

export function summaryOf(report: ReportDocument, receivedAt: Date): ReportSummary {
  const s = report.site;
  const m = report.measurements;
  return {
    report_id: report.report_id,
    site_key: siteKeyOf(report),
    establishment_code: s.establishment_code,
    establishment: s.establishment,
    region: s.region,
    usmp: s.usmp,
    hospital: s.hospital,
    appliance_id: s.appliance_id,
    started_at: report.started_at,
    received_at: receivedAt.toISOString(),
    ordered_at: orderedAt(report, receivedAt),
    verdict: report.verdict,
    profile: report.profile,
    up_mbps: m.up_mbps,
    down_mbps: m.down_mbps,
    rtt_mean_ms: m.rtt_ms.mean,
    ipdv_mean_ms: m.ipdv_ms.mean,
    loss_pct: m.loss_pct,
    loaded_rtt_increase_ms: m.loaded_rtt_increase_ms,
    remediation: report.remediation.category,
    missing_up_mbps: report.remediation.missing_mbps?.up ?? null,
    missing_down_mbps: report.remediation.missing_mbps?.down ?? null,
  };
}
