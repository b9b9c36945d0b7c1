import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { UsmpError } from '../errors.js';
import type { ReportDocument } from '../report/report-document.js';
import { summaryOf, type AddOutcome, type ReportStore, type ReportSummary, type ReportView, type SiteFilter, type SiteScope, type SiteSummary } from './report-store.js';

// SQLite (better-sqlite3): one file, no server, transactions. WAL with synchronous=FULL: a
// report is on disk before the collector answers 201, so an appliance never deletes a report
// the collector could still lose [sqlite.org/pragma.html#pragma_synchronous]. The signed text
// is kept in the canonical form that was verified (it is the evidence); `summary` columns
// serve the national views, and `sites` holds each site's latest report (by ordered_at, see
// report-store.ts) so the dashboard reads one row per site. PRAGMA user_version numbers the
// layout; older databases are brought up to date when opened.

const SUMMARY_COLUMNS = [
  'report_id', 'site_key', 'establishment_code', 'establishment', 'region', 'usmp', 'hospital', 'appliance_id', 'started_at', 'received_at',
  'ordered_at', 'verdict', 'profile', 'up_mbps', 'down_mbps', 'rtt_mean_ms', 'ipdv_mean_ms', 'loss_pct', 'loaded_rtt_increase_ms', 'remediation', 'missing_up_mbps', 'missing_down_mbps',
] as const;

const COLUMN_TYPES = SUMMARY_COLUMNS.map((c) => `${c} ${/mbps|_ms|_pct/.test(c) ? 'REAL' : 'TEXT'}`).join(', ');

export class SqliteReportStore implements ReportStore {
  readonly #db: Database.Database;
  readonly #insert: Database.Statement;
  readonly #existing: Database.Statement;
  readonly #siteLatest: Database.Statement;
  readonly #upsertSite: Database.Statement;
  readonly #bumpSite: Database.Statement;

  constructor(path: string) {
    try {
      if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true, mode: 0o750 });
      this.#db = new Database(path);
      this.#db.pragma('journal_mode = WAL');
      this.#db.pragma('synchronous = FULL');
      migrate(this.#db);
    } catch (err) {
      throw new UsmpError('USMP_E_REPORT_STORE', `cannot open the database ${path}: ${(err as Error).message}`, { cause: err });
    }
    const params = SUMMARY_COLUMNS.map((c) => `@${c}`).join(', ');
    this.#insert = this.#db.prepare(`INSERT INTO reports (${SUMMARY_COLUMNS.join(', ')}, text) VALUES (${params}, @text)`);
    this.#existing = this.#db.prepare('SELECT text FROM reports WHERE report_id = ?').pluck();
    this.#siteLatest = this.#db.prepare('SELECT ordered_at, report_id FROM sites WHERE site_key = ?');
    this.#upsertSite = this.#db.prepare(`INSERT OR REPLACE INTO sites (${SUMMARY_COLUMNS.join(', ')}, report_count) VALUES (${params}, (SELECT COUNT(*) FROM reports WHERE site_key = @site_key))`);
    this.#bumpSite = this.#db.prepare('UPDATE sites SET report_count = report_count + 1 WHERE site_key = ?');
  }

  add(report: ReportDocument, text: string, receivedAt: Date): AddOutcome {
    return this.#db.transaction((): AddOutcome => {
      const existing = this.#existing.get(report.report_id) as string | undefined;
      if (existing !== undefined) return sameReport(existing, text) ? 'duplicate' : 'conflict';
      const summary = summaryOf(report, receivedAt);
      this.#insert.run({ ...summary, text });
      const latest = this.#siteLatest.get(summary.site_key) as { ordered_at: string; report_id: string } | undefined;
      // the latest run describes the site; a report that arrives late only adds to its history
      if (!latest || summary.ordered_at > latest.ordered_at || (summary.ordered_at === latest.ordered_at && summary.report_id > latest.report_id)) this.#upsertSite.run(summary);
      else this.#bumpSite.run(summary.site_key);
      return 'stored';
    }).immediate();
  }

  scoped(scope: SiteScope): ReportView {
    return new SqliteReportView(this.#db, scope);
  }

  count(): number {
    return this.#db.prepare('SELECT COUNT(*) FROM reports').pluck().get() as number;
  }

  close(): void {
    if (this.#db.open) this.#db.close();
  }
}

const LAYOUT_VERSION = 1;

function migrate(db: Database.Database): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > LAYOUT_VERSION) throw new Error(`the database was written by a newer usmp-edge (layout ${version}; this one knows ${LAYOUT_VERSION})`);
  db.transaction(() => {
    const hadReports = (db.prepare("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'reports'").pluck().get() as number) > 0;
    if (hadReports && version === 0) {
      // layout 0 had no ordered_at: derive it from the stored signature, and choose each site's
      // latest report again by it
      db.exec(`
        ALTER TABLE reports ADD COLUMN ordered_at TEXT;
        UPDATE reports SET ordered_at = min(received_at, coalesce(json_extract(text, '$.signature.signed_at'), received_at));
        DROP TABLE sites;
      `);
    }
    db.exec(`
      CREATE TABLE IF NOT EXISTS reports (${COLUMN_TYPES}, text TEXT NOT NULL, PRIMARY KEY (report_id)) WITHOUT ROWID;
      CREATE INDEX IF NOT EXISTS reports_by_site ON reports (site_key, started_at);
      CREATE INDEX IF NOT EXISTS reports_by_start ON reports (started_at);
      CREATE TABLE IF NOT EXISTS sites (${COLUMN_TYPES.replace('report_id TEXT', 'report_id TEXT NOT NULL')}, report_count INTEGER NOT NULL, PRIMARY KEY (site_key)) WITHOUT ROWID;
      CREATE INDEX IF NOT EXISTS sites_by_name ON sites (establishment, site_key);
    `);
    if (hadReports && version === 0) {
      db.exec(`
        INSERT INTO sites (${SUMMARY_COLUMNS.join(', ')}, report_count)
        SELECT ${SUMMARY_COLUMNS.join(', ')}, (SELECT COUNT(*) FROM reports c WHERE c.site_key = r.site_key) FROM reports r
        WHERE NOT EXISTS (SELECT 1 FROM reports n WHERE n.site_key = r.site_key AND (n.ordered_at > r.ordered_at OR (n.ordered_at = r.ordered_at AND n.report_id > r.report_id)));
      `);
    }
    db.pragma(`user_version = ${LAYOUT_VERSION}`);
  }).immediate();
}

/** The reads of one reader: every query carries the reader's scope. */
class SqliteReportView implements ReportView {
  readonly #db: Database.Database;
  readonly #scope: SiteScope;

  constructor(db: Database.Database, scope: SiteScope) {
    this.#db = db;
    this.#scope = scope;
  }

  sites(filter: SiteFilter = {}): { rows: SiteSummary[]; total: number } {
    const { where, values } = siteWhere(filter, this.#scope);
    const total = (this.#db.prepare(`SELECT COUNT(*) FROM sites ${where}`).pluck().get(values) as number) ?? 0;
    const rows = this.#db.prepare(`SELECT * FROM sites ${where} ORDER BY establishment, site_key LIMIT @limit OFFSET @offset`).all({ ...values, limit: filter.limit ?? -1, offset: filter.offset ?? 0 }) as SiteSummary[];
    return { rows, total };
  }

  regions(): string[] {
    const { where, values } = siteWhere({}, this.#scope);
    return this.#db.prepare(`SELECT DISTINCT region FROM sites ${where ? `${where} AND` : 'WHERE'} region <> '' ORDER BY region`).pluck().all(values) as string[];
  }

  verdictCounts(filter: Pick<SiteFilter, 'region'> = {}): Record<string, number> {
    const { where, values } = siteWhere(filter, this.#scope);
    const rows = this.#db.prepare(`SELECT verdict, COUNT(*) AS n FROM sites ${where} GROUP BY verdict`).all(values) as Array<{ verdict: string; n: number }>;
    return Object.fromEntries(rows.map((r) => [r.verdict, r.n]));
  }

  siteHistory(siteKey: string): ReportSummary[] {
    const { where, values } = siteWhere({}, this.#scope);
    return this.#db.prepare(`SELECT ${SUMMARY_COLUMNS.join(', ')} FROM reports ${where ? `${where} AND` : 'WHERE'} site_key = @site_key ORDER BY started_at`).all({ ...values, site_key: siteKey }) as ReportSummary[];
  }

  reportText(reportId: string): string | undefined {
    const { where, values } = siteWhere({}, this.#scope);
    return this.#db.prepare(`SELECT text FROM reports ${where ? `${where} AND` : 'WHERE'} report_id = @report_id`).pluck().get({ ...values, report_id: reportId }) as string | undefined;
  }

  *eachReport(): Iterable<ReportDocument> {
    const { where, values } = siteWhere({}, this.#scope);
    for (const text of this.#db.prepare(`SELECT text FROM reports ${where} ORDER BY started_at, report_id`).pluck().iterate(values)) yield JSON.parse(text as string) as ReportDocument;
  }

  count(): number {
    const { where, values } = siteWhere({}, this.#scope);
    return this.#db.prepare(`SELECT COUNT(*) FROM reports ${where}`).pluck().get(values) as number;
  }
}

function siteWhere(filter: SiteFilter, scope: SiteScope): { where: string; values: Record<string, string> } {
  const clauses: string[] = [];
  const values: Record<string, string> = {};
  if (scope.kind === 'some') {
    // both tables carry region and establishment_code: the same clause scopes either
    const names = (prefix: string, list: readonly string[]) => list.map((v, i) => {
      values[`${prefix}${i}`] = v;
      return `@${prefix}${i}`;
    });
    const regions = names('scope_region_', scope.regions);
    const codes = names('scope_site_', scope.establishments);
    const parts = [...(regions.length ? [`region IN (${regions.join(', ')})`] : []), ...(codes.length ? [`establishment_code IN (${codes.join(', ')})`] : [])];
    clauses.push(parts.length ? `(${parts.join(' OR ')})` : '0 = 1');
  }
  if (filter.region) {
    clauses.push('region = @region');
    values['region'] = filter.region;
  }
  if (filter.verdict) {
    clauses.push('verdict = @verdict');
    values['verdict'] = filter.verdict;
  }
  return { where: clauses.length ? `WHERE ${clauses.join(' AND ')}` : '', values };
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
