/**
 * Crash safety of the read model with real SIGKILLs of `permitflow run read-model`.
 *
 * Each kill lands while the sink holds an open PostgreSQL transaction (seen in
 * pg_stat_activity), and the test checks afterwards that PostgreSQL aborted that very
 * transaction, so we know the kills bite. Meanwhile a watcher samples, from its own
 * connection, that no batch is ever partly published (permits of an incomplete batch, or a
 * complete batch missing permits). In the end the read model equals the topics exactly:
 * nothing lost, nothing twice.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { test } from 'node:test';
import { isDeepStrictEqual } from 'node:util';
import type pg from 'pg';
import type { Config } from '../../lib/config.ts';
import { createRegistry, createSerde } from '../../schemas/serde.ts';
import { spawnProcessor, waitFor } from '../support/pipeline.ts';
import { testTopology } from '../support/stack.ts';
import { counts, expectedCounts, partialBatches, produceAll, readModelConfig, synthetic } from './read-model-helpers.ts';

const SETTINGS = { PERMITFLOW_SESSION_TIMEOUT_MS: '6000', PERMITFLOW_PARTITIONS: '3' };
const KILLS = 4;

function childEnv(config: Config, workerId: string): Record<string, string> {
  return { ...SETTINGS, PERMITFLOW_TOPIC_NAMESPACE: config.topology.namespace, READ_MODEL_SCHEMA: config.readModel.schema, PERMITFLOW_WORKER_ID: workerId, LOG_LEVEL: 'warn' };
}

async function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGKILL');
  await once(child, 'exit');
}

/** The 64-bit id of a transaction a sink connection holds open with writes or row locks, if any. */
async function openTransaction(pool: pg.Pool, workerId: string): Promise<string | null> {
  const { rows } = await pool.query<{ xid: string }>(
    `SELECT (((pg_current_xact_id()::text::bigint >> 32) << 32) | backend_xid::text::bigint)::text AS xid
       FROM pg_stat_activity
      WHERE application_name = $1 AND backend_xid IS NOT NULL AND state IN ('active', 'idle in transaction')
        -- A batch's transaction, not a new connection making its staging tables (DDL, autocommitted).
        AND query NOT LIKE 'CREATE TEMPORARY TABLE%'
      LIMIT 1`,
    [`permitflow-read-model-${workerId}`],
  );
  return rows[0]?.xid ?? null;
}

const xactStatus = async (pool: pg.Pool, xid: string): Promise<string> => (await pool.query<{ s: string }>('SELECT pg_xact_status($1::xid8) AS s', [xid])).rows[0]!.s;

test('SIGKILL mid-transaction: no partial batch is ever visible, no row is duplicated, nothing is lost', async (t) => {
  const { config, pool } = await readModelConfig(t, SETTINGS);
  const topology = await testTopology(t, config);
  const data = await synthetic(createSerde(createRegistry(config)), topology, { batchesPerPartition: 8, batchSize: 50 });
  await produceAll(config, topology, data);

  const violations: string[] = [];
  let watching = true;
  let samples = 0;
  const watcher = (async () => {
    while (watching) {
      violations.push(...(await partialBatches(pool)));
      samples++;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  })();
  t.after(() => {
    watching = false;
    return watcher;
  });

  const aborted: string[] = [];
  for (let round = 0; round < KILLS; round++) {
    const workerId = `rm-crash-${round}`;
    const child = spawnProcessor(t, 'read-model', childEnv(config, workerId));
    let xid: string | null = null;
    await waitFor(`round ${round}: the read model inside a transaction`, async () => (xid = await openTransaction(pool, workerId)) !== null, 120_000, 2);
    await kill(child);
    // PostgreSQL ends the dead client's transaction; a commit that beat the kill is possible, an abort proves the kill bit.
    let status = 'in progress';
    await waitFor('the killed transaction to end', async () => (status = await xactStatus(pool, xid!)) !== 'in progress', 30_000, 50);
    if (status === 'aborted') aborted.push(xid!);
  }

  const last = spawnProcessor(t, 'read-model', childEnv(config, 'rm-crash-final'));
  const expected = expectedCounts(data);
  let holds: unknown;
  await waitFor('the read model to hold every record after the kills', async () => isDeepStrictEqual((holds = await counts(pool)), expected), 180_000, 500).catch((err: Error) => {
    throw new Error(`${err.message}: holds ${JSON.stringify(holds)}, expected ${JSON.stringify(expected)}`);
  });
  await kill(last);
  watching = false;
  await watcher;

  assert.ok(aborted.length >= 1, `at least one kill interrupted an open transaction (${aborted.length} of ${KILLS})`);
  assert.ok(samples > 10, `the watcher sampled the batches (${samples} samples)`);
  assert.deepEqual(violations, [], 'no batch was ever partly published');
  assert.deepEqual(await counts(pool), expected);
  assert.deepEqual(await partialBatches(pool), []);
  // Not only the counts: each submission has exactly the outcome the topics give it.
  const { rows } = await pool.query<{ submission_hash: string; status: string }>('SELECT submission_hash, status FROM submissions');
  assert.deepEqual(new Map(rows.map((r) => [r.submission_hash, r.status])), new Map(data.members.map((m) => [m.hash, m.outcome])));
});
