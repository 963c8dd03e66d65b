/**
 * The read model on the real stack (Kafka, registry, PostgreSQL), fed with co-partitioned state
 * records, manifests and dead letters produced straight onto the topics: it equals the topics
 * (per state, per batch); duplicates and replays change nothing; a batch's permits appear only
 * with its last terminal member, whichever topic that arrives on; the timeline and the intake
 * status come out of it; migrations are versioned. Crash safety: read-model-crash.test.ts.
 */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { isDeepStrictEqual } from 'node:util';
import { Partitioners } from 'kafkajs';
import { migrate, readMigrations } from '../../connectors/read-model/migrate.ts';
import { createReadModelStatusSource, readTimeline, startReadModel, type RunningSink } from '../../connectors/read-model/index.ts';
import type { Config } from '../../lib/config.ts';
import { createKafka } from '../../lib/kafka.ts';
import { createRegistry, createSerde } from '../../schemas/serde.ts';
import type { Topology } from '../../topology/topics.ts';
import { waitFor } from '../support/pipeline.ts';
import { testTopology } from '../support/stack.ts';
import { caughtUp, counts, expectedCounts, logger, partialBatches, produce, produceAll, readModelConfig, synthetic, type Synthetic } from './read-model-helpers.ts';

async function startSink(t: TestContext, config: Config, topology: Topology): Promise<RunningSink> {
  const sink = startReadModel(config, { kafka: createKafka(config, logger), serde: createSerde(createRegistry(config)), topology, logger });
  t.after(() => sink.stop());
  await sink.started;
  return sink;
}

async function setUp(t: TestContext, shape: { batchesPerPartition: number; batchSize: number }) {
  const { config, pool } = await readModelConfig(t);
  const topology = await testTopology(t, config);
  const data = await synthetic(createSerde(createRegistry(config)), topology, shape);
  return { config, pool, topology, data };
}

async function settled(pool: Parameters<typeof counts>[0], data: Synthetic): Promise<void> {
  let last: unknown;
  await waitFor('the read model to hold every record', async () => isDeepStrictEqual((last = await counts(pool)), expectedCounts(data)), 120_000, 300).catch((err: Error) => {
    throw new Error(`${err.message}: holds ${JSON.stringify(last)}, expected ${JSON.stringify(expectedCounts(data))}`);
  });
}

test('the read model equals the topics: every state, every batch, every permit and dead letter', async (t) => {
  const { config, pool, topology, data } = await setUp(t, { batchesPerPartition: 4, batchSize: 30 });
  await produceAll(config, topology, data);
  await startSink(t, config, topology);
  await settled(pool, data);

  assert.deepEqual(await counts(pool), expectedCounts(data));
  // Per batch: members, terminal counts and permits as the topics say.
  const { rows } = await pool.query<{ batch_id: string; member_count: number; accepted_count: number; rejected_count: number; dead_lettered_count: number; complete: boolean; permits: string }>(
    'SELECT b.*, (SELECT count(*) FROM permits p WHERE p.batch_id = b.batch_id) AS permits FROM batches b',
  );
  assert.equal(rows.length, data.manifests.length);
  for (const b of rows) {
    const members = data.members.filter((m) => m.batchId === b.batch_id);
    const n = (o: string) => members.filter((m) => m.outcome === o).length;
    assert.deepEqual(
      [b.member_count, b.accepted_count, b.rejected_count, b.dead_lettered_count, b.complete, Number(b.permits)],
      [members.length, n('accepted'), n('rejected'), n('dead_lettered'), true, n('accepted')],
      b.batch_id,
    );
  }
  // The batch of a dead letter comes from its original record's header.
  const dead = data.members.find((m) => m.outcome === 'dead_lettered')!;
  assert.equal((await pool.query<{ batch_id: string }>('SELECT batch_id FROM dead_letters WHERE submission_hash = $1', [dead.hash])).rows[0]!.batch_id, dead.batchId);
  assert.deepEqual(await partialBatches(pool), []);
});

test('timeline and intake status of a submission, from the read model', async (t) => {
  const { config, pool, topology, data } = await setUp(t, { batchesPerPartition: 1, batchSize: 10 });
  await produceAll(config, topology, data);
  await startSink(t, config, topology);
  await settled(pool, data);

  const rejected = data.members.find((m) => m.outcome === 'rejected')!;
  const timeline = (await readTimeline(pool, rejected.hash))!;
  assert.deepEqual(timeline.events.map((e) => e.state), ['received', 'chunked', 'enriched', 'validated', 'rejected']);
  assert.equal(timeline.sourceReference, rejected.sourceReference);
  assert.deepEqual(timeline.batch, { batchId: rejected.batchId, memberCount: 10, accepted: 6, rejected: 3, deadLettered: 1, complete: true });
  for (const e of timeline.events) {
    assert.match(e.traceId ?? '', /^[0-9a-f]{32}$/);
    assert.ok(e.workerId.length > 0 && e.at > 0);
  }
  assert.deepEqual(timeline.events[4]!.detail.reasons, [{ code: 'FEE_UNDERPAID', field: '/payment/amountPaid', message: 'Pay the remaining $10.00' }]);

  const status = createReadModelStatusSource(pool);
  const s = (await status.get(rejected.hash))!;
  assert.equal(s.status, 'rejected');
  assert.deepEqual(s.timeline.map((e) => e.state), ['received', 'chunked', 'enriched', 'validated', 'rejected']);
  assert.deepEqual(s.reasons.map((r) => r.code), ['FEE_UNDERPAID']);
  const dead = data.members.find((m) => m.outcome === 'dead_lettered')!;
  const d = (await status.get(dead.hash))!;
  assert.equal(d.status, 'enriched', 'a dead-lettered submission reports the last state it reached');
  assert.deepEqual(d.deadLetters.map((l) => [l.stage, l.errorClass]), [['validator', 'PF_PAYLOAD_NOT_JSON']]);
  assert.equal((await readTimeline(pool, dead.hash))!.events.at(-1)!.state, 'dead_lettered');
  assert.equal(await status.get('0'.repeat(64)), undefined);
});

test('a duplicate state record, and a replay of whole topics, have no visible effect', async (t) => {
  const { config, pool, topology, data } = await setUp(t, { batchesPerPartition: 2, batchSize: 20 });
  await produceAll(config, topology, data);
  const sink = await startSink(t, config, topology);
  await settled(pool, data);
  const snapshot = async () => ({
    counts: await counts(pool),
    submissions: (await pool.query('SELECT submission_hash, status, status_at, batch_id, updated_at FROM submissions ORDER BY 1')).rows,
    batches: (await pool.query('SELECT batch_id, accepted_count, rejected_count, dead_lettered_count, completed_at, updated_at FROM batches ORDER BY 1')).rows,
    permits: (await pool.query('SELECT submission_hash, published_at FROM permits ORDER BY 1')).rows,
    events: (await pool.query('SELECT event_id, worker_id, at FROM submission_events ORDER BY 1')).rows,
  });
  const before = await snapshot();

  // The same key and state again, as a redelivering producer or a zombie would write it: other time, other worker.
  const accepted = data.records.get('accepted')![0]!;
  const again = { ...accepted, value: { ...(accepted.value as object), header: { ...(accepted.value as { header: object }).header, at: Date.now(), workerId: 'zombie-decider' } } };
  const received = data.records.get('received')![0]!;
  await produce(config, topology, 'accepted', [again]);
  await produce(config, topology, 'received', [received]);
  await produce(config, topology, 'dlq', [data.records.get('dlq')![0]!]);
  // Progress marker: a record after the duplicates on the same partition, with an effect we can see.
  const marker = { ...data.records.get('received')![0]!, key: 'f'.repeat(64), value: { ...(received.value as object), header: { ...(received.value as { header: object }).header, submissionHash: 'f'.repeat(64) } } };
  await produce(config, topology, 'received', [marker]);
  await waitFor('the marker after the duplicates', async () => (await pool.query('SELECT 1 FROM submissions WHERE submission_hash = $1', ['f'.repeat(64)])).rowCount === 1, 60_000, 200);
  await waitFor('the duplicates to be consumed', () => caughtUp(config, topology, pool), 60_000, 200);

  const after = await snapshot();
  // Only the marker shows: one more received event and submission.
  assert.deepEqual(after.counts, { ...before.counts, events: { ...before.counts.events, received: before.counts.events.received! + 1 }, submissions: { ...before.counts.submissions, received: 1 } });
  assert.deepEqual(after.submissions.filter((s: { submission_hash: string }) => s.submission_hash !== 'f'.repeat(64)), before.submissions);
  assert.deepEqual(after.batches, before.batches);
  assert.deepEqual(after.permits, before.permits);
  assert.deepEqual(after.events.slice(0, before.events.length), before.events);
  assert.equal(after.events.length, before.events.length + 1, 'only the marker added an event');

  // Replay: forget every stored offset and read all topics again from the start.
  await sink.stop();
  await pool.query('UPDATE sink_offsets SET next_offset = 0');
  await startSink(t, config, topology);
  await waitFor('the replay to start', async () => Number((await pool.query<{ n: string }>('SELECT count(*) AS n FROM sink_offsets WHERE next_offset = 0')).rows[0]!.n) === 0, 60_000, 200);
  await waitFor('the replay to reach the end', () => caughtUp(config, topology, pool), 60_000, 200);
  const replayed = await snapshot();
  assert.deepEqual(replayed.events, after.events);
  assert.deepEqual(replayed.permits, after.permits);
  assert.deepEqual(replayed.counts, after.counts);
});

test("a batch's permits appear only with its last terminal member, whichever topic brings it", async (t) => {
  const { config, pool, topology, data } = await setUp(t, { batchesPerPartition: 1, batchSize: 10 });
  // Everything but the manifests and one rejection of the batch on partition 0.
  const target = data.manifests.find((m) => m.partition === 0)!;
  const last = data.members.find((m) => m.batchId === target.batchId && m.outcome === 'rejected')!;
  const rejectedRest = data.records.get('rejected')!.filter((r) => r.key !== last.hash);
  await produceAll(config, topology, data, ['received', 'chunked', 'enriched', 'validated', 'accepted', 'dlq']);
  await produce(config, topology, 'rejected', rejectedRest);
  await startSink(t, config, topology);
  const n = data.members.length;
  await waitFor('all but one terminal record', async () => {
    const c = await counts(pool);
    return c.events.accepted! + c.events.rejected! + c.deadLetters === n - 1;
  }, 60_000, 200);
  // No manifest yet: no batch can complete, so no permit anywhere.
  assert.equal((await counts(pool)).permits, 0);

  await produce(config, topology, 'batches', data.records.get('batches')!);
  await waitFor('the other batches to complete', async () => (await counts(pool)).completeBatches === data.manifests.length - 1, 60_000, 200);
  const permitsOf = async (batchId: string) => Number((await pool.query<{ n: string }>('SELECT count(*) AS n FROM permits WHERE batch_id = $1', [batchId])).rows[0]!.n);
  assert.equal(await permitsOf(target.batchId), 0, 'the batch waiting for one rejection publishes none of its permits');
  assert.deepEqual(await partialBatches(pool), []);

  await produce(config, topology, 'rejected', [data.records.get('rejected')!.find((r) => r.key === last.hash)!]);
  await waitFor('the last batch to complete', async () => (await counts(pool)).completeBatches === data.manifests.length, 60_000, 200);
  assert.equal(await permitsOf(target.batchId), data.members.filter((m) => m.batchId === target.batchId && m.outcome === 'accepted').length);
  assert.deepEqual(await counts(pool), expectedCounts(data));
});

test('an undecodable record on a state topic is recorded and skipped; the records after it are applied', async (t) => {
  const { config, pool, topology, data } = await setUp(t, { batchesPerPartition: 1, batchSize: 5 });
  const kafka = createKafka(config, logger);
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  await producer.send({ topic: topology.topics.received.name, messages: [{ key: 'garbage', value: Buffer.from('not avro'), partition: 0 }] });
  await producer.disconnect();
  await produceAll(config, topology, data);
  await startSink(t, config, topology);
  await settled(pool, data);
  const { rows } = await pool.query<{ topic: string; offset: string; error: string }>('SELECT topic, "offset", error FROM unreadable_records');
  assert.deepEqual(rows.map((r) => [r.topic, r.offset]), [[topology.topics.received.name, '0']]);
  assert.match(rows[0]!.error, /Confluent wire format/);
});

test('migrations are applied once, in order, and an edited migration is refused', async (t) => {
  const { config, pool } = await readModelConfig(t);
  assert.deepEqual(await migrate(pool, config.readModel.schema), [], 'already applied by the helper');
  const { rows } = await pool.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version');
  assert.deepEqual(rows.map((r) => r.version), readMigrations().map((m) => m.version));
  const edited = readMigrations().map((m, i) => (i === 0 ? { ...m, checksum: 'edited' } : m));
  await assert.rejects(migrate(pool, config.readModel.schema, edited), /changed after it was applied/);
  await assert.rejects(pool.query("UPDATE submission_events SET state = 'accepted'"), /append-only/);
});
