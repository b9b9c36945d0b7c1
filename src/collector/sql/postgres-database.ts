import { createHash } from 'node:crypto';
import pg from 'pg';
import type { SqlClient, SqlDatabase, SqlValue } from './sql-database.js';

// PostgreSQL through node-postgres's pool: each request borrows a connection for one statement
// or one transaction. Several collector processes may share the server: uniqueness is the
// database's (primary keys, ON CONFLICT), never a read-then-write in the process.

export interface PostgresOptions {
  /** postgres://USER@HOST:PORT/DATABASE, or ?host=/socket/dir for a Unix socket; no password. */
  url: string;
  password?: string | undefined;
  poolSize: number;
  /** CA of the server's certificate: TLS, the certificate checked (verify-full). */
  ca?: Buffer | undefined;
  /** Whatever the pool reports that no request awaits (a connection the server closed). */
  onPoolError: (err: Error) => void;
}

export class PostgresDatabase implements SqlDatabase {
  readonly dialect = 'postgres' as const;
  readonly #pool: pg.Pool;
  #closed = false;

  constructor(o: PostgresOptions) {
    this.#pool = new pg.Pool({
      ...connectionOf(o.url),
      ...(o.password === undefined ? {} : { password: o.password }),
      ...(o.ca ? { ssl: { ca: o.ca, rejectUnauthorized: true } } : {}),
      max: o.poolSize,
      connectionTimeoutMillis: 10_000,
      idleTimeoutMillis: 30_000,
      // a statement stuck behind a lock fails instead of holding an HTTP request for ever
      statement_timeout: 30_000,
      application_name: 'usmp-edge-collector',
    });
    // pg-pool's end() resolves before its sockets have closed: an error the server sends them
    // meanwhile (its own shutdown, say) is about connections we no longer use
    this.#pool.on('error', (err) => {
      if (!this.#closed) o.onPoolError(err);
    });
  }

  all<T>(sql: string, params: readonly SqlValue[] = []): Promise<T[]> {
    return clientOf(this.#pool).all<T>(sql, params);
  }

  one<T>(sql: string, params: readonly SqlValue[] = []): Promise<T | undefined> {
    return clientOf(this.#pool).one<T>(sql, params);
  }

  run(sql: string, params: readonly SqlValue[] = []): Promise<number> {
    return clientOf(this.#pool).run(sql, params);
  }

  async transaction<T>(work: (tx: SqlClient) => Promise<T>): Promise<T> {
    const connection = await this.#pool.connect();
    let broken: Error | undefined;
    try {
      await connection.query('BEGIN');
      const result = await work(clientOf(connection));
      await connection.query('COMMIT');
      return result;
    } catch (err) {
      await connection.query('ROLLBACK').catch((rollbackErr: Error) => {
        broken = rollbackErr;
      });
      throw err;
    } finally {
      // a connection whose roll-back failed is in an unknown state: the pool drops it
      connection.release(broken);
    }
  }

  /** One connection held for `work`, outside any transaction (session-level advisory locks). */
  async withConnection<T>(work: (client: SqlClient) => Promise<T>): Promise<T> {
    const connection = await this.#pool.connect();
    try {
      return await work(clientOf(connection));
    } finally {
      connection.release();
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#pool.end();
  }
}

/**
 * The parts of the address, read here rather than by pg's connectionString, whose values would
 * override the password given apart.
 */
export function connectionOf(url: string): { host: string; port: number; user: string; database: string } {
  const parsed = new URL(url);
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') throw new Error(`${parsed.protocol} is not postgres:`);
  const socketDir = parsed.searchParams.get('host');
  return {
    host: socketDir ?? decodeURIComponent(parsed.hostname || 'localhost'),
    port: parsed.port ? Number(parsed.port) : 5432,
    user: decodeURIComponent(parsed.username),
    database: decodeURIComponent(parsed.pathname.replace(/^\//, '')) || decodeURIComponent(parsed.username),
  };
}

function clientOf(queryable: pg.Pool | pg.PoolClient): SqlClient {
  const query = (sql: string, params: readonly SqlValue[]) => queryable.query({ name: statementName(sql), text: sql, values: params as SqlValue[] });
  return {
    dialect: 'postgres',
    all: async <T>(sql: string, params: readonly SqlValue[] = []) => (await query(sql, params)).rows as T[],
    one: async <T>(sql: string, params: readonly SqlValue[] = []) => (await query(sql, params)).rows[0] as T | undefined,
    run: async (sql: string, params: readonly SqlValue[] = []) => (await query(sql, params)).rowCount ?? 0,
  };
}

const names = new Map<string, string>();

/**
 * A name per statement text: node-postgres then prepares it once per connection and only binds
 * values afterwards [node-postgres.com/features/queries#prepared-statements]. The stores' texts
 * are a fixed set (values always travel as parameters), so the names stay few.
 */
function statementName(sql: string): string {
  let name = names.get(sql);
  if (!name) {
    name = `usmp_${createHash('sha256').update(sql).digest('hex').slice(0, 24)}`;
    names.set(sql, name);
  }
  return name;
}
