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

/** The column types each dialect names for text, floating-point figures and whole numbers. */
function typesOf(dialect: SqlDialect): { text: string; real: string; int: string } {
  return { text: columnType('', dialect), real: columnType('_ms', dialect), int: dialect === 'postgres' ? 'BIGINT' : 'INTEGER' };
}

function text(dialect: SqlDialect): string {
  return typesOf(dialect).text;
}

const summaryColumns = (dialect: SqlDialect): string =>
  SUMMARY_COLUMNS.map((c) => `${c} ${columnType(c, dialect)}${c === 'report_id' ? ' NOT NULL' : ''}`).join(', ');
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
      const { text: t, int: ms } = typesOf(d);
      // "user" is quoted: a reserved word in PostgreSQL
      await each(tx, [
        `CREATE TABLE IF NOT EXISTS users (name ${t} PRIMARY KEY, password_hash ${t} NOT NULL, roles ${t} NOT NULL, created_at ${t} NOT NULL)${withoutRowid(d)}`,
        `CREATE TABLE IF NOT EXISTS sessions (id_hash ${t} PRIMARY KEY, "user" ${t} NOT NULL, source ${t} NOT NULL, roles ${t} NOT NULL, created_at ${ms} NOT NULL, seen_at ${ms} NOT NULL)${withoutRowid(d)}`,
        `CREATE TABLE IF NOT EXISTS api_tokens (id ${t} PRIMARY KEY, secret_hash ${t} NOT NULL, "user" ${t} NOT NULL, label ${t} NOT NULL, roles ${t} NOT NULL, created_at ${t} NOT NULL, last_used_at ${t})${withoutRowid(d)}`,
      ]);
    },
  },
  {
    version: 3,
    what: "the live fleet: heartbeats (and their daily counts), hourly summaries (and their daily roll-up), alerts, each appliance's latest state",
    async apply(tx) {
      const d = tx.dialect;
      const { text: t, real, int } = typesOf(d);
      const columns = (list: Record<string, string>) =>
        Object.entries(list)
          .map(([name, type]) => `${name} ${type}`)
          .join(', ');
      await each(tx, [
        `CREATE TABLE fleet (${columns(FLEET_COLUMNS(t, real, int))}, PRIMARY KEY (site_key))${withoutRowid(d)}`,
        `CREATE TABLE heartbeats (document_id ${t} NOT NULL, site_key ${t} NOT NULL, at ${t} NOT NULL, received_at ${t} NOT NULL, sequence ${int} NOT NULL, version ${t}, link_state ${t}, rtt_ms ${real}, outbox_depth ${int}, report_outbox_depth ${int}, hospital_connected ${int}, disk_free_mib ${real}, clock_synchronised ${int}, PRIMARY KEY (document_id))${withoutRowid(d)}`,
        'CREATE INDEX heartbeats_by_site ON heartbeats (site_key, at)',
        'CREATE INDEX heartbeats_by_time ON heartbeats (at)',
        `CREATE TABLE heartbeats_daily (site_key ${t} NOT NULL, day ${t} NOT NULL, heartbeats ${int} NOT NULL, link_ok ${int} NOT NULL, link_degraded ${int} NOT NULL, link_down ${int} NOT NULL, last_version ${t}, PRIMARY KEY (site_key, day))${withoutRowid(d)}`,
        `CREATE TABLE hourly (site_key ${t} NOT NULL, hour_start ${t} NOT NULL, ${columns(HOURLY_TABLE_COLUMNS(t, real, int))}, PRIMARY KEY (site_key, hour_start))${withoutRowid(d)}`,
        'CREATE UNIQUE INDEX hourly_by_document ON hourly (document_id)',
        'CREATE INDEX hourly_by_time ON hourly (hour_start)',
        `CREATE TABLE daily (site_key ${t} NOT NULL, day ${t} NOT NULL, hours ${int} NOT NULL, minutes_observed ${real} NOT NULL, minutes_available ${real} NOT NULL, degraded_min ${real} NOT NULL, rtt_median_weighted ${real} NOT NULL, rtt_minutes ${real} NOT NULL, rtt_p95_max_ms ${real}, loss_up_weighted ${real} NOT NULL, loss_down_weighted ${real} NOT NULL, loss_minutes ${real} NOT NULL, alerts_raised ${int} NOT NULL, PRIMARY KEY (site_key, day))${withoutRowid(d)}`,
        `CREATE TABLE fleet_alerts (document_id ${t} NOT NULL, site_key ${t} NOT NULL, at ${t} NOT NULL, received_at ${t} NOT NULL, sequence ${int} NOT NULL, kind ${t} NOT NULL, metric ${t} NOT NULL, state ${t} NOT NULL, measured ${t}, limit_value ${t}, unit ${t}, message ${t}, PRIMARY KEY (document_id))${withoutRowid(d)}`,
        'CREATE INDEX fleet_alerts_by_site ON fleet_alerts (site_key, at)',
      ]);
    },
  },
  {
    version: 4,
    what: 'calls seen on the network: counted in each hourly summary and in its day',
    async apply(tx) {
      const { real, int } = typesOf(tx.dialect);
      // null in an hour: an appliance that does not count calls; 0 in a day: none counted
      await each(tx, [
        ...CALL_COLUMNS.map((c) => `ALTER TABLE hourly ADD COLUMN ${c} ${c === 'call_minutes' ? real : int}`),
        ...CALL_COLUMNS.map((c) => `ALTER TABLE daily ADD COLUMN ${c} ${c === 'call_minutes' ? real : int} NOT NULL DEFAULT 0`),
      ]);
    },
  },
];

/** What an hour and a day count of the calls seen on the network (migration 4). */
export const CALL_COLUMNS = ['calls', 'call_attempts', 'call_minutes', 'calls_good', 'calls_fair', 'calls_poor'] as const;

/** Each appliance's latest state, one row per site: the grid's source. */
export const FLEET_COLUMNS = (t: string, real: string, int: string): Record<string, string> => ({
  site_key: `${t} NOT NULL`,
  appliance_id: `${t} NOT NULL`,
  establishment_code: t,
  establishment: t,
  region: t,
  version: t,
  last_heartbeat_at: t,
  last_received_at: `${t} NOT NULL`,
  heartbeat_interval_s: int,
  last_sequence: `${int} NOT NULL`,
  sequence_gaps: `${int} NOT NULL`,
  link_state: t,
  link_since: t,
  rtt_ms: real,
  outbox_depth: int,
  outbox_oldest_age_s: real,
  report_outbox_depth: int,
  devices_connected: int,
  hospital_connected: int,
  disk_free_mib: real,
  clock_synchronised: int,
  uptime_s: real,
  silent_since: t,
});

/** An hour of monitoring of one site. */
export const HOURLY_TABLE_COLUMNS = (t: string, real: string, int: string): Record<string, string> => ({
  document_id: `${t} NOT NULL`,
  received_at: `${t} NOT NULL`,
  profile: t,
  minutes_observed: `${real} NOT NULL`,
  rtt_median_ms: real,
  rtt_p95_ms: real,
  ipdv_median_ms: real,
  ipdv_p95_ms: real,
  loss_up_pct: real,
  loss_down_pct: real,
  degraded_min: `${real} NOT NULL`,
  degraded_rtt_min: real,
  degraded_ipdv_min: real,
  degraded_loss_min: real,
  degraded_reachability_min: real,
  availability_pct: real,
  alerts_raised: `${int} NOT NULL`,
  alerts_cleared: `${int} NOT NULL`,
  up_mbps: real,
  down_mbps: real,
  limit_rtt_ms: real,
  limit_ipdv_ms: real,
  limit_loss_pct: real,
});

export const LAYOUT_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;

/** Brings the database to LAYOUT_VERSION. */
export async function migrate(db: SqlDatabase): Promise<void> {
  if (db instanceof SqliteDatabase) return migrateSqlite(db);
  if (db instanceof PostgresDatabase) return migratePostgres(db);
  throw new Error(`no migrations for ${db.dialect}`);
}

function refuseNewer(version: number): void {
  if (version > LAYOUT_VERSION)
    throw new UsmpError(
      'USMP_E_REPORT_STORE',
      `the database was written by a newer usmp-edge (layout ${version}; this one knows ${LAYOUT_VERSION}): upgrade this collector`,
    );
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
