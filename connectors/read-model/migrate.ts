/**
 * Versioned migrations of the read model: `migrations/NNNN_name.sql`, applied in order, each in
 * its own transaction with its row in `schema_migrations`, under an advisory lock so several
 * sink instances starting together apply each migration once. An applied file whose content
 * changed is refused: the schema would no longer be what the files say.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { PermitflowError } from '../../lib/errors.ts';

export const MIGRATIONS_DIR = join(dirname(fileURLToPath(import.meta.url)), 'migrations');

export interface Migration {
  version: number;
  name: string;
  sql: string;
  checksum: string;
}

export function readMigrations(dir = MIGRATIONS_DIR): Migration[] {
  return readdirSync(dir)
    .filter((f) => /^\d{4}_[a-z0-9_]+\.sql$/.test(f))
    .sort()
    .map((file) => {
      const sql = readFileSync(join(dir, file), 'utf8');
      return { version: Number(file.slice(0, 4)), name: file.slice(5, -4), sql, checksum: createHash('sha256').update(sql).digest('hex') };
    });
}

export const quoteIdent = (name: string): string => `"${name.replace(/"/g, '""')}"`;

/** Applies pending migrations to `schema`; returns the versions applied now. */
export async function migrate(pool: pg.Pool, schema: string, migrations = readMigrations()): Promise<number[]> {
  const client = await pool.connect();
  const applied: number[] = [];
  try {
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`);
    await client.query('SELECT pg_advisory_lock(hashtext($1))', [`permitflow.read-model.migrate.${schema}`]);
    try {
      await client.query(`SET search_path TO ${quoteIdent(schema)}`);
      await client.query('CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())');
      const { rows } = await client.query<{ version: number; checksum: string }>('SELECT version, checksum FROM schema_migrations');
      const done = new Map(rows.map((r) => [r.version, r.checksum]));
      for (const m of migrations) {
        const checksum = done.get(m.version);
        if (checksum !== undefined) {
          if (checksum !== m.checksum) throw PermitflowError.permanent('PF_MIGRATION_CHANGED', `migration ${m.version}_${m.name} changed after it was applied to PostgreSQL schema ${schema}: add a new migration instead`);
          continue;
        }
        await client.query('BEGIN');
        try {
          await client.query(m.sql);
          await client.query('INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)', [m.version, m.name, m.checksum]);
          await client.query('COMMIT');
        } catch (err) {
          await client.query('ROLLBACK');
          throw PermitflowError.permanent('PF_MIGRATION_FAILED', `read-model migration ${m.version}_${m.name} failed: ${(err as Error).message}`, { cause: err });
        }
        applied.push(m.version);
      }
    } finally {
      await client.query('SELECT pg_advisory_unlock(hashtext($1))', [`permitflow.read-model.migrate.${schema}`]).catch(() => undefined);
      await client.query('RESET search_path').catch(() => undefined);
    }
  } finally {
    client.release();
  }
  return applied;
}
