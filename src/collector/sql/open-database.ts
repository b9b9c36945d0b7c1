import { UsmpError } from '../../errors.js';
import { migrate } from './migrations.js';
import { PostgresDatabase, type PostgresOptions } from './postgres-database.js';
import type { SqlDatabase } from './sql-database.js';
import { SqliteDatabase } from './sqlite-database.js';

// The collector's database, opened and brought to the current layout: a SQLite file (the
// embedded default), or a PostgreSQL server shared by several collectors.

export type DatabaseChoice = { kind: 'sqlite'; path: string } | ({ kind: 'postgres' } & PostgresOptions);

export async function openCollectorDatabase(choice: DatabaseChoice): Promise<SqlDatabase> {
  const where = choice.kind === 'sqlite' ? choice.path : redactedUrl(choice.url);
  let db: SqlDatabase | undefined;
  try {
    db = choice.kind === 'sqlite' ? new SqliteDatabase(choice.path) : new PostgresDatabase(choice);
    await migrate(db);
    return db;
  } catch (err) {
    await db?.close().catch(() => undefined);
    if (err instanceof UsmpError) throw err;
    throw new UsmpError('USMP_E_REPORT_STORE', `cannot open the database ${where}: ${(err as Error).message}`, { cause: err });
  }
}

/** The address without any password a user may have written into it. */
export function redactedUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(an address that does not parse)';
  }
}
