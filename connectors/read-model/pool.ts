/**
 * The read model's PostgreSQL pool: every connection's search_path is the read model's schema,
 * so SQL names its tables unqualified and a test can use a schema of its own.
 */
import pg from 'pg';
import type { Config } from '../../lib/config.ts';
import { quoteIdent } from './migrate.ts';

export function createReadModelPool(config: Config, options: { applicationName?: string; max?: number } = {}): pg.Pool {
  const pool = new pg.Pool({
    connectionString: config.database.url,
    max: options.max ?? config.readModel.poolSize,
    application_name: options.applicationName ?? `permitflow-${config.workerId}`,
    options: `-c search_path=${quoteIdent(config.readModel.schema)}`,
    connectionTimeoutMillis: 10_000,
    idleTimeoutMillis: 30_000,
  });
  // An idle client losing its connection (PostgreSQL restart) must not crash the process.
  pool.on('error', () => undefined);
  return pool;
}
