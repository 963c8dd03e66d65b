/**
 * The read model when PostgreSQL ends its connections (what a PostgreSQL restart does to it:
 * FATAL 57P01, "terminating connection due to administrator command"): while it applies batches,
 * its backends are terminated again and again with pg_terminate_backend. A connection ended
 * between two queries reached the sink as an 'error' event nobody listened to, and the process
 * exited (chaos suite, PostgreSQL restart). It must keep running and end up with every record.
 */
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { isDeepStrictEqual } from 'node:util';
import { createRegistry, createSerde } from '../../schemas/serde.ts';
import { spawnProcessor, waitFor } from '../support/pipeline.ts';
import { testTopology } from '../support/stack.ts';
import { counts, expectedCounts, produceAll, readModelConfig, synthetic } from './read-model-helpers.ts';

const WORKER_ID = 'rm-terminated';
const TERMINATING_MS = 15_000;

test('PostgreSQL terminating the read model’s connections again and again loses nothing and stops nothing', { timeout: 300_000 }, async (t) => {
  const { config, pool } = await readModelConfig(t, { PERMITFLOW_PARTITIONS: '3' });
  const topology = await testTopology(t, config);
  const data = await synthetic(createSerde(createRegistry(config)), topology, { batchesPerPartition: 72, batchSize: 50 });
  await produceAll(config, topology, data);

  const child = spawnProcessor(t, 'read-model', {
    PERMITFLOW_TOPIC_NAMESPACE: config.topology.namespace,
    READ_MODEL_SCHEMA: config.readModel.schema,
    PERMITFLOW_WORKER_ID: WORKER_ID,
    // Small fetches: many batches, so many moments between two queries of one batch.
    PERMITFLOW_MAX_BYTES_PER_PARTITION: '16384',
    LOG_LEVEL: 'warn',
  });
  let exit: string | undefined;
  child.on('exit', (code, signal) => (exit = `exited with ${code ?? signal}`));

  // Once it applies batches: a start-up that cannot reach PostgreSQL fails fast, by design.
  await waitFor('the read model applying batches', async () => exit !== undefined || (await pool.query('SELECT 1 FROM sink_offsets LIMIT 1')).rowCount === 1, 120_000, 100);
  // Terminated again and again while it still has records to apply (each time it retries, it is
  // cut off again): at least 15 s and at least 10 cuts, within a minute; then left to catch up.
  // Only cuts while it is behind count: an idle pool's connections prove nothing.
  const expected = expectedCounts(data);
  const expectedEvents = Object.values(expected.events).reduce((a, b) => a + b, 0);
  const behind = async () => Number((await pool.query<{ n: string }>('SELECT count(*) AS n FROM submission_events')).rows[0]!.n) < expectedEvents;
  let terminated = 0;
  const until = Date.now() + TERMINATING_MS;
  const giveUp = Date.now() + 60_000;
  while ((Date.now() < until || terminated < 10) && Date.now() < giveUp && !exit && (await behind())) {
    const { rows } = await pool.query<{ ended: boolean }>('SELECT pg_terminate_backend(pid) AS ended FROM pg_stat_activity WHERE application_name = $1', [`permitflow-read-model-${WORKER_ID}`]);
    terminated += rows.filter((r) => r.ended).length;
    await sleep(randomInt(100, 400));
  }
  let holds: unknown;
  await waitFor('the read model to hold every record', async () => exit !== undefined || isDeepStrictEqual((holds = await counts(pool)), expected), 120_000, 500).catch((err: Error) => {
    throw new Error(`${err.message} (${terminated} connections terminated): holds ${JSON.stringify(holds)}, expected ${JSON.stringify(expected)}`);
  });
  assert.equal(exit, undefined, 'the read model kept running');
  assert.deepEqual(holds, expected);
  assert.ok(terminated >= 10, `connections were terminated while it had records to apply (${terminated})`);
  const { rows } = await pool.query<{ submission_hash: string; status: string }>('SELECT submission_hash, status FROM submissions');
  assert.deepEqual(new Map(rows.map((r) => [r.submission_hash, r.status])), new Map(data.members.map((m) => [m.hash, m.outcome])));
});
