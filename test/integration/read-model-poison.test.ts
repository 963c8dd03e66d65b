/**
 * A record PostgreSQL refuses does not stall the read model (issue 14, seen failure 2): a
 * `received` record whose source reference is 3 KB of random text (an index row over the btree
 * maximum, SQLSTATE 54000), produced straight onto the state topics among good records, is set
 * aside as a dead letter with its cause; every other record is applied exactly once and the
 * sink catches up to the end of its topics.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { isDeepStrictEqual } from 'node:util';
import { startReadModel } from '../../connectors/read-model/index.ts';
import { createKafka } from '../../lib/kafka.ts';
import { createRegistry, createSerde } from '../../schemas/serde.ts';
import type { SubmissionReceived } from '../../schemas/types.ts';
import { waitFor } from '../support/pipeline.ts';
import { testTopology } from '../support/stack.ts';
import { caughtUp, counts, expectedCounts, logger, produce, produceAll, readModelConfig, synthetic } from './read-model-helpers.ts';

test('a record PostgreSQL refuses is set aside with its cause; the rest of its batch and partition is applied once', async (t) => {
  const { config, pool } = await readModelConfig(t);
  const topology = await testTopology(t, config);
  const serde = createSerde(createRegistry(config));
  const data = await synthetic(serde, topology, { batchesPerPartition: 2, batchSize: 20 });

  // The poison: a copy of a good received record under a new hash, its reference 3 KB of random
  // text (incompressible), placed in the middle of partition 0's received records.
  const received = data.records.get('received')!;
  const onPartition0 = received.filter((r) => r.partition === 0);
  const model = onPartition0[0]!.value as SubmissionReceived;
  const poisonHash = randomBytes(32).toString('hex');
  const poison = {
    key: poisonHash,
    partition: 0,
    value: { ...model, header: { ...model.header, submissionHash: poisonHash, idempotencyKey: poisonHash }, sourceReference: randomBytes(2400).toString('base64') },
  };
  const middle = received.indexOf(onPartition0[Math.floor(onPartition0.length / 2)]!);
  data.records.set('received', [...received.slice(0, middle), poison, ...received.slice(middle)]);
  await produceAll(config, topology, data);

  const sink = startReadModel(config, { kafka: createKafka(config, logger), serde, topology, logger });
  t.after(() => sink.stop());
  await sink.started;

  await waitFor('the read model to reach the end of every topic', () => caughtUp(config, topology, pool), 90_000, 300);

  const expected = expectedCounts(data);
  // The poison is a submission of its own: one more row in `submissions`, dead-lettered by the read model.
  expected.submissions.dead_lettered = (expected.submissions.dead_lettered ?? 0) + 1;
  expected.deadLetters += 1;
  const held = await counts(pool);
  assert.ok(isDeepStrictEqual(held, expected), `holds ${JSON.stringify(held)}, expected ${JSON.stringify(expected)}`);

  const { rows } = await pool.query<{ stage: string; error_class: string; error_message: string; error_chain: string[]; original_topic: string; original_partition: number }>(
    'SELECT stage, error_class, error_message, error_chain, original_topic, original_partition FROM dead_letters WHERE submission_hash = $1',
    [poisonHash],
  );
  assert.equal(rows.length, 1, 'the refused record is in dead_letters once');
  const letter = rows[0]!;
  assert.equal(letter.stage, 'read-model');
  assert.equal(letter.error_class, 'PF_READ_MODEL_REFUSED');
  assert.equal(letter.original_topic, topology.topics.received.name);
  assert.equal(letter.original_partition, 0);
  assert.match(letter.error_message, /SQLSTATE 54000/);
  assert.ok(letter.error_chain.some((line) => /index row size/.test(line)), `the cause is kept: ${JSON.stringify(letter.error_chain)}`);
  assert.ok(!JSON.stringify(letter).includes(poison.value.sourceReference.slice(0, 40)), 'no content of the record in the letter');
  const { rows: events } = await pool.query('SELECT 1 FROM submission_events WHERE submission_hash = $1', [poisonHash]);
  assert.equal(events.length, 0, 'nothing of the refused record was applied');
  // Every good received record around it, on its partition too, is there exactly once.
  const { rows: good } = await pool.query<{ n: string }>("SELECT count(*) AS n FROM submission_events WHERE state = 'received'");
  assert.equal(Number(good[0]!.n), received.length);

  // And the partition keeps moving: a record produced after the poison is applied.
  const after = { ...model, header: { ...model.header, submissionHash: randomBytes(32).toString('hex') }, sourceReference: 'REF-AFTER' };
  await produce(config, topology, 'received', [{ key: after.header.submissionHash, value: after, partition: 0 }]);
  await waitFor('a record after the poison to be applied', async () => (await pool.query('SELECT 1 FROM submissions WHERE source_reference = $1', ['REF-AFTER'])).rows.length === 1, 30_000, 200);
});
