import { UsmpError } from '../../errors.js';
import { SUMMARY_COLUMNS } from '../report-store.js';
import { PostgresDatabase } from './postgres-database.js';
import type { SqlClient, SqlDatabase, SqlDialect } from './sql-database.js';
import { SqliteDatabase } from './sqlite-database.js';

// The collector's tables, as numbered steps applied in order when it starts. SQLite records the
// layout it is at in PRAGMA user_version; PostgreSQL in the table usmp_schema, and its steps run
// under an advisory lock so that two collectors starting together on one server apply each step
// once. A database written by a newer collector is refused, never rewritten.

interface Migration {
  version: number;
  what: string;
  apply(tx: SqlClient): Promise<void>;
}

/** Column type of a summary column: figures are numbers, the rest text. */
function columnType(column: string, dialect: SqlDialect): string {
  if (/mbps|_ms|_pct/.test(column)) return dialect === 'postgres' ? 'DOUBLE PRECISION' : 'REAL';
  // byte order, as SQLite compares: both databases sort and page alike
  return dialect === 'postgres' ? 'TEXT COLLATE "C"' : 'TEXT';
}

function text(dialect: SqlDialect): string {
  return columnType('', dialect);
}

const summaryColumns = (dialect: SqlDialect): string => SUMMARY_COLUMNS.map((c) => `${c} ${columnType(c, dialect)}${c === 'report_id' ? ' NOT NULL' : ''}`).join(', ');
const withoutRowid = (dialect: SqlDialect): string => (dialect === 'sqlite' ? ' WITHOUT ROWID' : '');

async function each(tx: SqlClient, statements: readonly string[]): Promise<void> {
  for (const statement of statements) await tx.run(statement);
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    what: 'reports, and each site as of its latest report',
    async apply(tx) {
      const d = tx.dialect;
      if (d === 'sqlite' && (await hasLayoutZero(tx))) return upgradeLayoutZero(tx);
      await each(tx, [
        `CREATE TABLE IF NOT EXISTS reports (${summaryColumns(d)}, text ${text(d)} NOT NULL, PRIMARY KEY (report_id))${withoutRowid(d)}`,
        'CREATE INDEX IF NOT EXISTS reports_by_site ON reports (site_key, started_at)',
        'CREATE INDEX IF NOT EXISTS reports_by_start ON reports (started_at, report_id)',
        `CREATE TABLE IF NOT EXISTS sites (${summaryColumns(d)}, report_count INTEGER NOT NULL, PRIMARY KEY (site_key))${withoutRowid(d)}`,
        'CREATE INDEX IF NOT EXISTS sites_by_name ON sites (establishment, site_key)',
      ]);
    },
  },
  {
    version: 2,
    what: 'people: local accounts, sessions, bearer tokens',
    async apply(tx) {
      const d = tx.dialect;
      const t = text(d);
      const ms = d === 'postgres' ? 'BIGINT' : 'INTEGER';
      // "user" is quoted: a reserved word in PostgreSQL
      await each(tx, [
        `CREATE TABLE IF NOT EXISTS users (name ${t} PRIMARY KEY, password_hash ${t} NOT NULL, roles ${t} NOT NULL, created_at ${t} NOT NULL)${withoutRowid(d)}`,
        `CREATE TABLE IF NOT EXISTS sessions (id_hash ${t} PRIMARY KEY, "user" ${t} NOT NULL, source ${t} NOT NULL, roles ${t} NOT NULL, created_at ${ms} NOT NULL, seen_at ${ms} NOT NULL)${withoutRowid(d)}`,
        `CREATE TABLE IF NOT EXISTS api_tokens (id ${t} PRIMARY KEY, secret_hash ${t} NOT NULL, "user" ${t} NOT NULL, label ${t} NOT NULL, roles ${t} NOT NULL, created_at ${t} NOT NULL, last_used_at ${t})${withoutRowid(d)}`,
      ]);
    },
  },
];

export const LAYOUT_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;

/** Brings the database to LAYOUT_VERSION. */
export async function migrate(db: SqlDatabase): Promise<void> {
  if (db instanceof SqliteDatabase) return migrateSqlite(db);
  if (db instanceof PostgresDatabase) return migratePostgres(db);
  throw new Error(`no migrations for ${db.dialect}`);
}

function refuseNewer(version: number): void {
  if (version > LAYOUT_VERSION) throw new UsmpError('USMP_E_REPORT_STORE', `the database was written by a newer usmp-edge (layout ${version}; this one knows ${LAYOUT_VERSION}): upgrade this collector`);
}

async function migrateSqlite(db: SqliteDatabase): Promise<void> {
  const version = db.raw.pragma('user_version', { simple: true }) as number;
  refuseNewer(version);
  for (const step of MIGRATIONS.filter((m) => m.version > version)) {
    await db.transaction(async (tx) => {
      await step.apply(tx);
      db.raw.pragma(`user_version = ${step.version}`);
    });
  }
}

/** pg_advisory_lock's key for the migrations: any fixed 64-bit number of our own. */
const MIGRATION_LOCK = 0x75736d70;

async function migratePostgres(db: PostgresDatabase): Promise<void> {
  await db.withConnection(async (c) => {
    await c.run('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    try {
      await c.run('CREATE TABLE IF NOT EXISTS usmp_schema (version INTEGER NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now(), what TEXT NOT NULL)');
      const version = Number((await c.one<{ v: number | null }>('SELECT max(version) AS v FROM usmp_schema'))?.v ?? 0);
      refuseNewer(version);
      for (const step of MIGRATIONS.filter((m) => m.version > version)) {
        await c.run('BEGIN');
        try {
          await step.apply(c);
          await c.run('INSERT INTO usmp_schema (version, what) VALUES ($1, $2)', [step.version, step.what]);
          await c.run('COMMIT');
        } catch (err) {
          await c.run('ROLLBACK');
          throw err;
        }
      }
    } finally {
      await c.run('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]);
    }
  });
}

// -- SQLite layout 0 (before ordered_at): ordered_at derived from the stored signature, and each
// site's latest report chosen again by it

async function hasLayoutZero(tx: SqlClient): Promise<boolean> {
  const reports = await tx.one<{ n: number }>("SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = 'reports'");
  if (!reports || reports.n === 0) return false;
  const columns = await tx.all<{ name: string }>("SELECT name FROM pragma_table_info('reports')");
  return !columns.some((c) => c.name === 'ordered_at');
}

async function upgradeLayoutZero(tx: SqlClient): Promise<void> {
  const columns = SUMMARY_COLUMNS.join(', ');
  await each(tx, [
    'ALTER TABLE reports ADD COLUMN ordered_at TEXT',
    "UPDATE reports SET ordered_at = min(received_at, coalesce(json_extract(text, '$.signature.signed_at'), received_at))",
    'DROP TABLE sites',
    'CREATE INDEX IF NOT EXISTS reports_by_site ON reports (site_key, started_at)',
    'CREATE INDEX IF NOT EXISTS reports_by_start ON reports (started_at, report_id)',
    `CREATE TABLE sites (${summaryColumns('sqlite')}, report_count INTEGER NOT NULL, PRIMARY KEY (site_key)) WITHOUT ROWID`,
    'CREATE INDEX IF NOT EXISTS sites_by_name ON sites (establishment, site_key)',
    `INSERT INTO sites (${columns}, report_count)
     SELECT ${columns}, (SELECT COUNT(*) FROM reports c WHERE c.site_key = r.site_key) FROM reports r
     WHERE NOT EXISTS (SELECT 1 FROM reports n WHERE n.site_key = r.site_key AND (n.ordered_at > r.ordered_at OR (n.ordered_at = r.ordered_at AND n.report_id > r.report_id)))`,
  ]);
}
