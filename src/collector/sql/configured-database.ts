import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import type { LoadedConfig } from '../../config/load.js';
import { UsmpError } from '../../errors.js';
import { openCollectorDatabase, type DatabaseChoice } from './open-database.js';
import type { SqlDatabase } from './sql-database.js';

// Which database the configuration names: PostgreSQL when collector.postgres.url is set, else
// the SQLite file collector.database.

export function databaseChoiceOf(loaded: LoadedConfig, log: Pick<Logger, 'error'>): DatabaseChoice {
  const c = loaded.values.collector;
  if (!c.postgres.url) return { kind: 'sqlite', path: c.database };
  let ca: Buffer | undefined;
  if (c.postgres.ca_file) {
    try {
      ca = readFileSync(c.postgres.ca_file);
    } catch (err) {
      throw new UsmpError(
        'USMP_E_CONFIG_INVALID',
        `collector.postgres.ca_file: cannot read ${c.postgres.ca_file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
        { cause: err },
      );
    }
  }
  return {
    kind: 'postgres',
    url: c.postgres.url,
    password: loaded.secrets.get('collector.postgres.password'),
    poolSize: c.postgres.pool_size,
    ca,
    onPoolError: (err) =>
      log.error({ event: 'collector.database_connection_lost', err: err.message }, 'a PostgreSQL connection failed; the pool opens another'),
  };
}

export function openConfiguredDatabase(loaded: LoadedConfig, log: Pick<Logger, 'error'>): Promise<SqlDatabase> {
  return openCollectorDatabase(databaseChoiceOf(loaded, log));
}
