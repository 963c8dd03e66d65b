/**
 * Records an inter-agency producer writes straight onto the raw topic, past the intake's limits
 * (issue 14, seen failure 2): a 3 KB random reference, a 1 MB one, and a payload that does not
 * hash to its key are dead-lettered by the windower with their cause; the good records around
 * them reach the read model, the poison ones are in its dead letters, and no stage lags behind.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { Partitioners } from 'kafkajs';
import { createKafka } from '../../lib/kafka.ts';
import { createLogger } from '../../lib/logger.ts';
import { createRegistry, createSerde } from '../../schemas/serde.ts';
import type { DeadLetter, SubmissionEnvelope } from '../../schemas/types.ts';
import { readAll, startStages, syntheticEnvelope, waitFor } from '../support/pipeline.ts';
import { testTopology } from '../support/stack.ts';
import { caughtUp, readModelConfig } from './read-model-helpers.ts';

const logger = createLogger({ level: 'warn' });

test('poison envelopes on the raw topic are dead-lettered with their cause; the good ones reach the read model; nothing lags', async (t) => {
  const { config, pool } = await readModelConfig(t, { WINDOW_MAX_COUNT: '3', WINDOW_MAX_AGE_MS: '60000' });
  const topology = await testTopology(t, config);
  const serde = createSerde(createRegistry(config));

  const good = [1, 2, 3].map((n) => syntheticEnvelope(n));
  const threeKb: SubmissionEnvelope = { ...syntheticEnvelope(4), sourceReference: randomBytes(2400).toString('base64') };
  const oneMb: SubmissionEnvelope = { ...syntheticEnvelope(5), sourceReference: 'x'.repeat(1_000_000) };
  const mismatched: SubmissionEnvelope = { ...syntheticEnvelope(6), payload: syntheticEnvelope(7).payload };
  const ordered = [good[0]!, threeKb, oneMb, good[1]!, mismatched, good[2]!];

  const producer = createKafka(config, logger).producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  for (const e of ordered) {
    await producer.send({ topic: topology.topics.raw.name, acks: -1, messages: [{ key: e.submissionHash, value: await serde.encode(topology.topics.raw, e), partition: 0 }] });
  }
  await producer.disconnect();

  await startStages(t, config, ['windower', 'read-model']);
  await waitFor('3 dead letters and 3 good submissions in the read model', async () => {
    const { rows } = await pool.query<{ dead: string; chunked: string }>("SELECT (SELECT count(*) FROM dead_letters) AS dead, (SELECT count(*) FROM submissions WHERE status = 'chunked') AS chunked");
    return Number(rows[0]!.dead) === 3 && Number(rows[0]!.chunked) === 3;
  }, 90_000, 500);

  const { rows: chunked } = await pool.query<{ submission_hash: string }>("SELECT submission_hash FROM submissions WHERE status = 'chunked'");
  assert.deepEqual(chunked.map((r) => r.submission_hash).sort(), good.map((e) => e.submissionHash).sort());

  const letters = new Map((await readAll<DeadLetter>(config, topology, 'dlq')).map((r) => [r.value.originalOffset, r.value]));
  assert.equal(letters.size, 3);
  const ofThreeKb = letters.get(1)!;
  assert.equal(ofThreeKb.errorClass, 'PF_INVALID_ENVELOPE');
  assert.match(ofThreeKb.errorMessage, /^sourceReference is 3200 bytes, over the 1024 allowed$/);
  assert.ok(ofThreeKb.originalValue && ofThreeKb.originalValue.length > 3200, 'the original is kept for a replay');
  const ofOneMb = letters.get(2)!;
  assert.equal(ofOneMb.errorClass, 'PF_INVALID_ENVELOPE');
  assert.match(ofOneMb.errorMessage, /^sourceReference is 1000000 bytes/);
  assert.equal(ofOneMb.originalValue, null, 'a 1 MB original would make the letter itself too large for Kafka');
  assert.ok(ofOneMb.errorChain.some((line) => /left out of the letter/.test(line) && line.includes(`${topology.topics.raw.name}/0@2`)), JSON.stringify(ofOneMb.errorChain));
  assert.equal(letters.get(4)!.errorMessage, 'submissionHash is not the hash of the inline payload and its attachments');

  const { rows: dead } = await pool.query<{ submission_hash: string; stage: string; error_class: string }>('SELECT submission_hash, stage, error_class FROM dead_letters ORDER BY original_offset');
  assert.deepEqual(dead.map((d) => [d.submission_hash, d.stage, d.error_class]), [threeKb, oneMb, mismatched].map((e) => [e.submissionHash, 'windower', 'PF_INVALID_ENVELOPE']));

  // No lag: the windower committed to the end of the raw topic, the read model to the end of its inputs.
  const admin = createKafka(config, logger).admin();
  await admin.connect();
  t.after(() => admin.disconnect());
  await waitFor('the windower to commit to the end of the raw topic', async () => {
    const end = (await admin.fetchTopicOffsets(topology.topics.raw.name)).find((o) => o.partition === 0)!.high;
    const committed = (await admin.fetchOffsets({ groupId: topology.group('windower'), topics: [topology.topics.raw.name] }))[0]!.partitions.find((p) => p.partition === 0)?.offset;
    return committed === end;
  }, 30_000, 300);
  await waitFor('the read model to reach the end of its topics', () => caughtUp(config, topology, pool), 30_000, 300);
});
