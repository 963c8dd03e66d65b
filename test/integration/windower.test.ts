/**
 * The windower on the real stack: closes on count, bytes and age; drops duplicates; routes bad
 * records to the DLQ. Crash safety lives in windower-crash.test.ts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Partitioners } from 'kafkajs';
import type { Config } from '../../lib/config.ts';
import { createKafka } from '../../lib/kafka.ts';
import { createLogger } from '../../lib/logger.ts';
import { createRegistry, createSerde } from '../../schemas/serde.ts';
import type { BatchManifest, DeadLetter, SubmissionChunked, SubmissionReceived } from '../../schemas/types.ts';
import type { Topology } from '../../topology/topics.ts';
import { produceSubmissions, readAll, syntheticEnvelope, waitFor, startStages } from '../support/pipeline.ts';
import { testConfig, testTopology } from '../support/stack.ts';

const logger = createLogger({ level: 'warn' });


async function waitForCount(config: Config, topology: Topology, id: 'received' | 'chunked' | 'dlq', count: number): Promise<void> {
  await waitFor(`${count} records on ${id}`, async () => (await readAll(config, topology, id)).length >= count, 120_000, 500);
}

test('batches close on count, and an idle partition closes on age', async (t) => {
  const config = await testConfig({ WINDOW_MAX_COUNT: '40', WINDOW_MAX_AGE_MS: '2000' });
  const topology = await testTopology(t, config);
  await produceSubmissions(config, topology, 250);
  await startStages(t, config, ['windower']);
  await waitForCount(config, topology, 'chunked', 250);

  const batches = (await readAll<BatchManifest>(config, topology, 'batches')).map((r) => r.value);
  assert.equal(batches.reduce((n, b) => n + b.count, 0), 250);
  for (const b of batches) {
    assert.ok(b.count <= 40, `batch of ${b.count} exceeds the count limit`);
    if (b.closeReason === 'COUNT') assert.equal(b.count, 40);
  }
  assert.ok(batches.filter((b) => b.closeReason === 'COUNT').length >= 3, 'full windows closed on count');
  // 250 over 3 partitions leaves a remainder on each, which only the age timer can close.
  const aged = batches.filter((b) => b.closeReason === 'AGE');
  assert.ok(aged.length >= 1, 'an idle partition closed on age');
  for (const b of aged) assert.ok(b.closedAt - b.openedAt >= 2000, 'no age close before the window age');
});

test('batches close before passing the byte limit', async (t) => {
  const config = await testConfig({ WINDOW_MAX_COUNT: '500', WINDOW_MAX_BYTES: '6000', WINDOW_MAX_AGE_MS: '1500' });
  const topology = await testTopology(t, config);
  await produceSubmissions(config, topology, 120, 0, 400);
  await startStages(t, config, ['windower']);
  await waitForCount(config, topology, 'chunked', 120);

  const batches = (await readAll<BatchManifest>(config, topology, 'batches')).map((r) => r.value);
  assert.ok(batches.some((b) => b.closeReason === 'BYTES'));
  for (const b of batches) assert.ok(b.bytes <= 6000, `batch of ${b.bytes} bytes exceeds the byte limit`);
});

test('10,000 submissions with 10% duplicates: 9,000 received, each in exactly one batch', async (t) => {
  const config = await testConfig({ WINDOW_MAX_COUNT: '500', WINDOW_MAX_AGE_MS: '2000' });
  const topology = await testTopology(t, config);
  const hashes = await produceSubmissions(config, topology, 9_000, 1_000);
  await startStages(t, config, ['windower']);
  await waitForCount(config, topology, 'chunked', 9_000);

  const received = await readAll<SubmissionReceived>(config, topology, 'received');
  const chunked = await readAll<SubmissionChunked>(config, topology, 'chunked');
  const batches = (await readAll<BatchManifest>(config, topology, 'batches')).map((r) => r.value);
  assert.equal(received.length, 9_000);
  assert.deepEqual(new Set(received.map((r) => r.key)), new Set(hashes));
  assert.equal(chunked.length, 9_000);

  const membership = new Map<string, string>();
  for (const b of batches) {
    assert.ok(b.count <= 500);
    for (const m of b.members) {
      assert.equal(membership.get(m), undefined, `${m} is in two batches`);
      membership.set(m, b.batchId);
    }
  }
  assert.equal(membership.size, 9_000);
  for (const c of chunked) assert.equal(c.value.header.batchId, membership.get(c.key!));
  // Each partition fills whole batches of 500 before its remainder closes on age.
  const full = batches.filter((b) => b.closeReason === 'COUNT');
  assert.ok(full.length >= 3, 'full windows closed on count');
  assert.ok(full.every((b) => b.count === 500));
});

test('a record that is not valid Avro, or an invalid envelope, goes to the DLQ with the reason; processing goes on', async (t) => {
  const config = await testConfig({ WINDOW_MAX_COUNT: '3', WINDOW_MAX_AGE_MS: '60000' });
  const topology = await testTopology(t, config);
  const kafka = createKafka(config, logger);
  const serde = createSerde(createRegistry(config));
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  const good = [1, 2, 3].map((n) => syntheticEnvelope(n));
  const invalid = { ...syntheticEnvelope(4), submissionHash: 'NOT-A-HASH' };
  await producer.send({
    topic: topology.topics.raw.name,
    messages: [
      { key: 'garbage', value: Buffer.from('{"this is":"not avro"}'), partition: 0 },
      { key: 'NOT-A-HASH', value: await serde.encode(topology.topics.raw, invalid), partition: 0 },
      ...(await Promise.all(good.map(async (e) => ({ key: e.submissionHash, value: await serde.encode(topology.topics.raw, e), partition: 0 })))),
    ],
  });
  await producer.disconnect();
  await startStages(t, config, ['windower']);
  await waitForCount(config, topology, 'chunked', 3);

  const letters = (await readAll<DeadLetter>(config, topology, 'dlq')).map((r) => r.value);
  assert.equal(letters.length, 2);
  const notAvro = letters.find((l) => l.originalOffset === 0)!;
  assert.equal(notAvro.errorClass, 'PF_DECODE_FAILED');
  assert.equal(notAvro.stage, 'windower');
  assert.equal(notAvro.originalTopic, topology.topics.raw.name);
  assert.deepEqual(notAvro.originalValue, Buffer.from('{"this is":"not avro"}'));
  const badEnvelope = letters.find((l) => l.originalOffset === 1)!;
  assert.equal(badEnvelope.errorClass, 'PF_INVALID_ENVELOPE');
  assert.match(badEnvelope.errorMessage, /hex SHA-256/);
  assert.equal(badEnvelope.consumerGroup, topology.group('windower'));
});

test('a transaction bigger than the broker accepts in one request is sent in slices', async (t) => {
  // Large fetches of 1.5 KB submissions: one transaction's outputs for a partition pass 1 MB.
  const config = await testConfig({ WINDOW_MAX_COUNT: '5000', WINDOW_MAX_AGE_MS: '1500', PERMITFLOW_MAX_BYTES_PER_PARTITION: String(3 * 1024 * 1024) });
  const topology = await testTopology(t, config);
  await produceSubmissions(config, topology, 2_400, 0, 1_500);
  await startStages(t, config, ['windower']);
  await waitForCount(config, topology, 'chunked', 2_400);
  assert.equal((await readAll(config, topology, 'received')).length, 2_400);
});
