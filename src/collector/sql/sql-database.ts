// The collector's stores speak to their database through this small interface, so one SQL text
// serves SQLite (sqlite-database.ts, the embedded default) and PostgreSQL (postgres-database.ts,
// for a ministry's server). Parameters are written $1, $2 … as PostgreSQL numbers them; SQL that
// differs between the two is chosen by `dialect`.

export type SqlDialect = 'sqlite' | 'postgres';

export type SqlValue = string | number | null;

export interface SqlClient {
  readonly dialect: SqlDialect;
  /** Every row of a query. */
  all<T>(sql: string, params?: readonly SqlValue[]): Promise<T[]>;
  /** The first row, or undefined. */
  one<T>(sql: string, params?: readonly SqlValue[]): Promise<T | undefined>;
  /** A statement; how many rows it changed. */
  run(sql: string, params?: readonly SqlValue[]): Promise<number>;
}

export interface SqlDatabase extends SqlClient {
  /**
   * `work` in one transaction: committed when it resolves, rolled back when it throws. Writers
   * are serialised (SQLite: BEGIN IMMEDIATE, one at a time; PostgreSQL: its own locks).
   */
  transaction<T>(work: (tx: SqlClient) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** SQL's COUNT(*) comes back as a bigint in text from PostgreSQL and as a number from SQLite. */
export function countOf(row: { n: unknown } | undefined): number {
  return row === undefined ? 0 : Number(row.n);
}
