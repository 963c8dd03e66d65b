/**
 * `permitflow dlq` on the real stack: dead letters from the windower, list filters, a replay
 * whose canary fails again (parked, nothing else replayed, never replayed again), and a replay
 * that succeeds.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Partitioners, type Kafka } from 'kafkajs';
import { listDeadLetters, replayDeadLetters } from '../../connectors/dlq.ts';
import { rangesToEnd, readRanges } from '../../lib/range-reader.ts';
import { createKafka } from '../../lib/kafka.ts';
import { createLogger } from '../../lib/logger.ts';
import { createRegistry, createSerde } from '../../schemas/serde.ts';
import type { DeadLetter, SubmissionReceived } from '../../schemas/types.ts';
import { readAll, syntheticEnvelope, waitFor, startStages } from '../support/pipeline.ts';
import { testConfig, testTopology } from '../support/stack.ts';

const logger = createLogger({ level: 'warn' });

/** Committed records of a topic, undecoded (a transaction's commit marker takes an offset, not a record). */
async function countRecords(kafka: Kafka, topic: string): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  const ends = await admin.fetchTopicOffsets(topic).finally(() => admin.disconnect());
  let records = 0;
  await readRanges(kafka, {
    topic,
    ranges: rangesToEnd(ends),
    timeoutMs: 60_000,
    what: `counting ${topic}`,
    onRecords(_partition, batch) {
      records += batch.length;
    },
  });
  return records;
}


test('dead letters are listed by filter; a replay that fails again is parked, stops at the canary and is never replayed again', async (t) => {
  const config = await testConfig({ WINDOW_MAX_COUNT: '3', WINDOW_MAX_AGE_MS: '60000' });
  const topology = await testTopology(t, config);
  const kafka = createKafka(config, logger);
  const serde = createSerde(createRegistry(config));
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  const invalid = { ...syntheticEnvelope(4), submissionHash: 'NOT-A-HASH' };
  await producer.send({
    topic: topology.topics.raw.name,
    messages: [
      { key: 'garbage-1', value: Buffer.from('{"this is":"not avro"}'), partition: 0 },
      { key: 'garbage-2', value: Buffer.from('still not avro'), partition: 0 },
      { key: 'NOT-A-HASH', value: await serde.encode(topology.topics.raw, invalid), partition: 0 },
    ],
  });
  await producer.disconnect();
  await startStages(t, config, ['windower']);
  await waitFor('3 dead letters', async () => (await readAll(config, topology, 'dlq')).length >= 3, 120_000, 500);

  const all = await listDeadLetters(kafka, serde, topology);
  assert.equal(all.length, 3);
  assert.ok(all.every((e) => !e.letter.parked));
  assert.equal((await listDeadLetters(kafka, serde, topology, { stage: 'windower' })).length, 3);
  assert.equal((await listDeadLetters(kafka, serde, topology, { stage: 'enricher' })).length, 0);
  assert.deepEqual((await listDeadLetters(kafka, serde, topology, { errorClass: 'PF_DECODE_FAILED' })).map((e) => e.letter.originalKey?.toString()), ['garbage-1', 'garbage-2']);
  assert.equal((await listDeadLetters(kafka, serde, topology, { errorClass: 'PF_INVALID_ENVELOPE' })).length, 1);
  assert.equal((await listDeadLetters(kafka, serde, topology, { since: Date.now() + 60_000 })).length, 0);

  // Replay the two decode failures: the canary (the first) fails again, nothing else goes.
  const progress: string[] = [];
  const result = await replayDeadLetters(kafka, serde, topology, { filter: { errorClass: 'PF_DECODE_FAILED' }, canary: 1, rate: 20, onProgress: (m) => progress.push(m) });
  assert.equal(result.outcome, 'canary-failed', result.message);
  assert.match(result.message, /canary failed: 0:\d+ failed again as \d+:\d+ \(parked\): PF_DECODE_FAILED/);
  assert.equal(result.replayed.length, 1, 'only the canary was replayed');

  const after = await listDeadLetters(kafka, serde, topology);
  assert.equal(after.length, 4);
  const parked = after.filter((e) => e.letter.parked);
  assert.equal(parked.length, 1);
  assert.equal(parked[0]!.letter.originalKey?.toString(), 'garbage-1');
  assert.equal(parked[0]!.letter.originalHeaders['permitflow-replay-of'], result.replayed[0]!.from);
  assert.ok(parked[0]!.letter.originalHeaders['permitflow-replayed-at']);
  assert.equal(after.find((e) => e.id === result.replayed[0]!.from)!.replayedAs, parked[0]!.id);
  // The raw topic got exactly one replayed record (counted as records: a transaction's marker takes an offset too).
  assert.equal(await countRecords(kafka, topology.topics.raw.name), 4);

  // Replaying the canary's letter again selects nothing: it is parked, and its original already replayed.
  const again = await replayDeadLetters(kafka, serde, topology, { filter: { submissionHash: 'garbage-1' } });
  assert.equal(again.outcome, 'nothing');
  assert.deepEqual(again.skipped.map((s) => s.reason).sort(), ['already replayed', 'parked']);
});

test('a replay whose original is valid reaches the stage output and parks nothing; a second replay skips it unless forced; a letter naming a state topic is refused', async (t) => {
  const config = await testConfig({ WINDOW_MAX_COUNT: '1', WINDOW_MAX_AGE_MS: '60000' });
  const topology = await testTopology(t, config);
  const kafka = createKafka(config, logger);
  const serde = createSerde(createRegistry(config));
  const envelopes = [syntheticEnvelope(1), syntheticEnvelope(2), syntheticEnvelope(3)];
  const letters: DeadLetter[] = await Promise.all(
    envelopes.map(async (e, i) => ({
      submissionHash: e.submissionHash,
      batchId: null,
      stage: 'windower',
      consumerGroup: topology.group('windower'),
      errorClass: 'PF_TEST_OUTAGE',
      errorMessage: 'a dependency was down',
      errorChain: ['PF_TEST_OUTAGE: a dependency was down'],
      attempt: 3,
      firstFailureAt: Date.now() - 1000,
      lastFailureAt: Date.now(),
      originalTopic: topology.topics.raw.name,
      originalPartition: i % 3,
      originalOffset: 0,
      originalTimestamp: Date.now(),
      originalKey: Buffer.from(e.submissionHash),
      originalValue: await serde.encode(topology.topics.raw, e),
      originalHeaders: {},
      traceId: null,
      workerId: 'test',
      parked: false,
    })),
  );
  // Anyone who can produce to the DLQ can write a letter naming any topic: this one names state.accepted.
  const forged: DeadLetter = { ...letters[0]!, stage: 'decider', consumerGroup: topology.group('decider'), originalTopic: topology.topics.accepted.name, originalPartition: 0, submissionHash: 'f'.repeat(64), originalKey: Buffer.from('f'.repeat(64)) };
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  await producer.send({ topic: topology.topics.dlq.name, messages: await Promise.all([...letters, forged].map(async (l, i) => ({ key: l.submissionHash, value: await serde.encode(topology.topics.dlq, l), partition: i % 3 }))) });
  await producer.disconnect();
  await startStages(t, config, ['windower']);

  const dry = await replayDeadLetters(kafka, serde, topology, { dryRun: true });
  assert.equal(dry.outcome, 'dry-run');
  assert.equal(dry.selected.length, 3);
  assert.equal(dry.replayed.length, 0);
  assert.deepEqual(dry.skipped.map((s) => s.reason), ['not an input of its stage']);
  assert.match(dry.skipped[0]!.detail, /^refused: .*state\.accepted is not an input of stage decider; replays go only to /);

  const started = Date.now();
  const result = await replayDeadLetters(kafka, serde, topology, { canary: 1, rate: 4 });
  assert.equal(result.outcome, 'ok', result.message);
  assert.equal(result.replayed.length, 3);
  assert.ok(Date.now() - started >= 500, 'paced at 4 per second');

  await waitFor('3 received', async () => (await readAll(config, topology, 'received')).length >= 3, 120_000, 500);
  const received = await readAll<SubmissionReceived>(config, topology, 'received');
  assert.deepEqual(received.map((r) => r.key).sort(), envelopes.map((e) => e.submissionHash).sort());
  const dlq = await listDeadLetters(kafka, serde, topology);
  assert.equal(dlq.length, 4, 'no new dead letters');
  assert.ok(dlq.every((e) => !e.letter.parked));
  const rawRecords = () => countRecords(kafka, topology.topics.raw.name);
  assert.equal(await rawRecords(), 3);
  assert.equal((await readAll(config, topology, 'accepted')).length, 0, 'nothing was written to state.accepted');

  // Replayed letters are remembered: a second replay sends nothing...
  const again = await replayDeadLetters(kafka, serde, topology, { canary: 0, rate: 50 });
  assert.equal(again.outcome, 'nothing', again.message);
  assert.deepEqual(again.skipped.map((s) => s.reason).sort(), ['already replayed', 'already replayed', 'already replayed', 'not an input of its stage']);
  assert.equal(await rawRecords(), 3, 'a second replay re-sends nothing');
  // ...unless forced (the windower drops the duplicates).
  const forced = await replayDeadLetters(kafka, serde, topology, { canary: 0, rate: 50, force: true });
  assert.equal(forced.outcome, 'ok', forced.message);
  assert.equal(forced.replayed.length, 3);
  assert.equal(await rawRecords(), 6);
  assert.equal((await readAll(config, topology, 'accepted')).length, 0);
});
