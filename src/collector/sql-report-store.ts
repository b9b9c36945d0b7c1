import type { ReportDocument } from '../report/report-document.js';
import {
  SUMMARY_COLUMNS,
  summaryOf,
  type AddOutcome,
  type ReportStore,
  type ReportSummary,
  type ReportView,
  type SiteFilter,
  type SiteScope,
  type SiteSummary,
} from './report-store.js';
import { countOf, type SqlClient, type SqlDatabase, type SqlValue } from './sql/sql-database.js';

// The collected reports in SQL (SQLite or PostgreSQL: sql/). The signed text is kept in the
// canonical form that was verified (it is the evidence); the summary columns serve the national
// views, and `sites` holds each site's latest report (by ordered_at, see report-store.ts) so the
// dashboard reads one row per site. Intake is one transaction of two statements whose
// uniqueness the database enforces (ON CONFLICT), so collectors sharing a server never store a
// report twice nor lose a site's count.

const COLUMNS = SUMMARY_COLUMNS.join(', ');
const PARAMS = SUMMARY_COLUMNS.map((_, i) => `$${i + 1}`).join(', ');
const TEXT_PARAM = `$${SUMMARY_COLUMNS.length + 1}`;

const INSERT_REPORT = `INSERT INTO reports (${COLUMNS}, text) VALUES (${PARAMS}, ${TEXT_PARAM}) ON CONFLICT (report_id) DO NOTHING`;

// The latest run describes the site; a report that arrives late only adds to its count. SET's
// expressions all read the row as it was, in both databases.
const NEWER = '(excluded.ordered_at, excluded.report_id) > (sites.ordered_at, sites.report_id)';
const UPSERT_SITE = `INSERT INTO sites (${COLUMNS}, report_count) VALUES (${PARAMS}, 1)
  ON CONFLICT (site_key) DO UPDATE SET report_count = sites.report_count + 1, ${SUMMARY_COLUMNS.filter((c) => c !== 'site_key')
    .map((c) => `${c} = CASE WHEN ${NEWER} THEN excluded.${c} ELSE sites.${c} END`)
    .join(', ')}`;

/** Reports read per page by eachReport. */
const PAGE = 200;

export class SqlReportStore implements ReportStore {
  readonly #db: SqlDatabase;

  /** `db` is migrated already (sql/migrations.ts) and stays its opener's to close. */
  constructor(db: SqlDatabase) {
    this.#db = db;
  }

  add(report: ReportDocument, text: string, receivedAt: Date): Promise<AddOutcome> {
    const summary = summaryOf(report, receivedAt);
    const values = SUMMARY_COLUMNS.map((c) => summary[c]);
    return this.#db.transaction(async (tx): Promise<AddOutcome> => {
      if ((await tx.run(INSERT_REPORT, [...values, text])) === 0) {
        const existing = await tx.one<{ text: string }>('SELECT text FROM reports WHERE report_id = $1', [report.report_id]);
        return existing !== undefined && sameReport(existing.text, text) ? 'duplicate' : 'conflict';
      }
      await tx.run(UPSERT_SITE, values);
      return 'stored';
    });
  }

  scoped(scope: SiteScope): ReportView {
    return new SqlReportView(this.#db, scope);
  }

  async count(): Promise<number> {
    return countOf(await this.#db.one<{ n: unknown }>('SELECT COUNT(*) AS n FROM reports'));
  }
}

/** The reads of one reader: every query carries the reader's scope. */
class SqlReportView implements ReportView {
  readonly #db: SqlClient;
  readonly #scope: SiteScope;

  constructor(db: SqlClient, scope: SiteScope) {
    this.#db = db;
    this.#scope = scope;
  }

  async sites(filter: SiteFilter = {}): Promise<{ rows: SiteSummary[]; total: number }> {
    const q = new Where(this.#scope, filter);
    const total = countOf(await this.#db.one<{ n: unknown }>(`SELECT COUNT(*) AS n FROM sites ${q.where()}`, [...q.params]));
    const noLimit = this.#db.dialect === 'sqlite' ? -1 : null;
    const page = `LIMIT ${q.param(filter.limit ?? noLimit)} OFFSET ${q.param(filter.offset ?? 0)}`;
    const rows = await this.#db.all<SiteSummary>(`SELECT ${COLUMNS}, report_count FROM sites ${q.where()} ORDER BY establishment, site_key ${page}`, q.params);
    return { rows, total };
  }

  async regions(): Promise<string[]> {
    const q = new Where(this.#scope);
    const rows = await this.#db.all<{ region: string }>(`SELECT DISTINCT region FROM sites ${q.where("region <> ''")} ORDER BY region`, q.params);
    return rows.map((r) => r.region);
  }

  async verdictCounts(filter: Pick<SiteFilter, 'region'> = {}): Promise<Record<string, number>> {
    const q = new Where(this.#scope, filter);
    const rows = await this.#db.all<{ verdict: string; n: unknown }>(`SELECT verdict, COUNT(*) AS n FROM sites ${q.where()} GROUP BY verdict`, q.params);
    return Object.fromEntries(rows.map((r) => [r.verdict, Number(r.n)]));
  }

  siteHistory(siteKey: string): Promise<ReportSummary[]> {
    const q = new Where(this.#scope);
    return this.#db.all<ReportSummary>(`SELECT ${COLUMNS} FROM reports ${q.where(`site_key = ${q.param(siteKey)}`)} ORDER BY started_at, report_id`, q.params);
  }

  async reportText(reportId: string): Promise<string | undefined> {
    const q = new Where(this.#scope);
    return (await this.#db.one<{ text: string }>(`SELECT text FROM reports ${q.where(`report_id = ${q.param(reportId)}`)}`, q.params))?.text;
  }

  async *eachReport(): AsyncIterable<ReportDocument> {
    // keyset pages: each page starts after the last one read, whatever arrives meanwhile
    let after: [string, string] | undefined;
    for (;;) {
      const q = new Where(this.#scope);
      const from = after ? `(started_at, report_id) > (${q.param(after[0])}, ${q.param(after[1])})` : undefined;
      const rows = await this.#db.all<{ started_at: string; report_id: string; text: string }>(
        `SELECT started_at, report_id, text FROM reports ${q.where(from)} ORDER BY started_at, report_id LIMIT ${PAGE}`,
        q.params,
      );
      for (const row of rows) yield JSON.parse(row.text) as ReportDocument;
      if (rows.length < PAGE) return;
      const last = rows[rows.length - 1]!;
      after = [last.started_at, last.report_id];
    }
  }

  async count(): Promise<number> {
    const q = new Where(this.#scope);
    return countOf(await this.#db.one<{ n: unknown }>(`SELECT COUNT(*) AS n FROM reports ${q.where()}`, q.params));
  }
}

/** A WHERE clause with its numbered parameters: the reader's scope, then the filter. */
class Where {
  readonly params: SqlValue[] = [];
  readonly #clauses: string[] = [];

  constructor(scope: SiteScope, filter: Pick<SiteFilter, 'region' | 'verdict'> = {}) {
    if (scope.kind === 'some') {
      // reports and sites both carry region and establishment_code: one clause scopes either
      const regions = scope.regions.map((r) => this.param(r));
      const codes = scope.establishments.map((c) => this.param(c));
      const parts = [
        ...(regions.length ? [`region IN (${regions.join(', ')})`] : []),
        ...(codes.length ? [`establishment_code IN (${codes.join(', ')})`] : []),
      ];
      this.#clauses.push(parts.length ? `(${parts.join(' OR ')})` : '0 = 1');
    }
    if (filter.region) this.#clauses.push(`region = ${this.param(filter.region)}`);
    if (filter.verdict) this.#clauses.push(`verdict = ${this.param(filter.verdict)}`);
  }

  param(value: SqlValue): string {
    this.params.push(value);
    return `$${this.params.length}`;
  }

  where(extra?: string): string {
    const clauses = extra ? [...this.#clauses, extra] : this.#clauses;
    return clauses.length ? `WHERE ${clauses.join(' AND ')}` : '';
  }
}

/** The same signed content, however it was indented. */
function sameReport(a: string, b: string): boolean {
  if (a === b) return true;
  try {
    const sa = (JSON.parse(a) as { signature?: { value?: string } }).signature?.value;
    const sb = (JSON.parse(b) as { signature?: { value?: string } }).signature?.value;
    return sa !== undefined && sa === sb;
  } catch {
    return false;
  }
}
