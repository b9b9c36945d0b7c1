import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { SqlClient, SqlDatabase, SqlValue } from './sql-database.js';

// better-sqlite3 answers synchronously on one connection. The stores are asynchronous (so that
// PostgreSQL can stand behind them), and a transaction awaits between its statements: a lock
// queue runs one top-level operation at a time, so no statement of another request slips into
// an open transaction. WAL with synchronous=FULL: a document is on disk before the collector
// answers 201 [sqlite.org/pragma.html#pragma_synchronous].

export class SqliteDatabase implements SqlDatabase {
  readonly dialect = 'sqlite' as const;
  readonly raw: Database.Database;
  readonly #direct: SqlClient;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(path: string) {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true, mode: 0o750 });
    this.raw = new Database(path);
    this.raw.pragma('journal_mode = WAL');
    this.raw.pragma('synchronous = FULL');
    this.raw.pragma('busy_timeout = 5000');
    this.#direct = directClient(this.raw);
  }

  all<T>(sql: string, params: readonly SqlValue[] = []): Promise<T[]> {
    return this.#exclusive(() => this.#direct.all<T>(sql, params));
  }

  one<T>(sql: string, params: readonly SqlValue[] = []): Promise<T | undefined> {
    return this.#exclusive(() => this.#direct.one<T>(sql, params));
  }

  run(sql: string, params: readonly SqlValue[] = []): Promise<number> {
    return this.#exclusive(() => this.#direct.run(sql, params));
  }

  transaction<T>(work: (tx: SqlClient) => Promise<T>): Promise<T> {
    return this.#exclusive(async () => {
      this.raw.exec('BEGIN IMMEDIATE');
      try {
        const result = await work(this.#direct);
        this.raw.exec('COMMIT');
        return result;
      } catch (err) {
        if (this.raw.inTransaction) this.raw.exec('ROLLBACK');
        throw err;
      }
    });
  }

  async close(): Promise<void> {
    await this.#queue.catch(() => undefined);
    if (this.raw.open) this.raw.close();
  }

  #exclusive<T>(work: () => Promise<T>): Promise<T> {
    const next = this.#queue.then(work, work);
    this.#queue = next.catch(() => undefined);
    return next;
  }
}

function directClient(db: Database.Database): SqlClient {
  // each text is prepared once, with the order its $n appear in (one may appear twice)
  const cache = new Map<string, { statement: Database.Statement; order: number[] }>();
  const bound = (sql: string, params: readonly SqlValue[]): [Database.Statement, SqlValue[]] => {
    let entry = cache.get(sql);
    if (!entry) {
      entry = { statement: db.prepare(sql.replace(NUMBERED, '?')), order: [...sql.matchAll(NUMBERED)].map((m) => Number(m[1]) - 1) };
      cache.set(sql, entry);
    }
    return [entry.statement, entry.order.map((i) => params[i] ?? null)];
  };
  return {
    dialect: 'sqlite',
    all: async <T>(sql: string, params: readonly SqlValue[] = []) => {
      const [statement, values] = bound(sql, params);
      return statement.all(...values) as T[];
    },
    one: async <T>(sql: string, params: readonly SqlValue[] = []) => {
      const [statement, values] = bound(sql, params);
      return statement.get(...values) as T | undefined;
    },
    run: async (sql: string, params: readonly SqlValue[] = []) => {
      const [statement, values] = bound(sql, params);
      return statement.run(...values).changes;
    },
  };
}

const NUMBERED = /\$(\d+)/g;
