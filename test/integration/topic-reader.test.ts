/**
 * The throw-away-group reader behind readTopic and the import checkpoints: it reads to the end,
 * and a record it cannot decode fails the read with that cause at once, not as a timeout.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Partitioners } from 'kafkajs';
import { readTopic } from '../../connectors/topic-reader.ts';
import { PermitflowError } from '../../lib/errors.ts';
import { createKafka } from '../../lib/kafka.ts';
import { createLogger } from '../../lib/logger.ts';
import { createRegistry, createSerde } from '../../schemas/serde.ts';
import { produceSubmissions } from '../support/pipeline.ts';
import { testConfig, testTopology } from '../support/stack.ts';

test('readTopic reads every record to the end; an undecodable one fails the read with its cause', async (t) => {
  const config = await testConfig();
  const topology = await testTopology(t, config);
  const kafka = createKafka(config, createLogger({ level: 'silent' }));
  const serde = createSerde(createRegistry(config));
  const hashes = await produceSubmissions(config, topology, 30);
  const records = await readTopic<{ submissionHash: string }>(kafka, serde, topology.topics.raw);
  assert.deepEqual(records.map((r) => r.value.submissionHash).sort(), [...hashes].sort());

  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  await producer.send({ topic: topology.topics.raw.name, messages: [{ key: 'garbage', value: Buffer.from('not avro'), partition: 0 }] });
  await producer.disconnect();
  const failure = await readTopic(kafka, serde, topology.topics.raw, { timeoutMs: 120_000 }).then(
    () => assert.fail('an undecodable record cannot be read'),
    (err: unknown) => err,
  );
  assert.ok(!(failure instanceof PermitflowError && failure.code === 'PF_READ_TIMEOUT'), `the cause, not a timeout: ${String(failure)}`);
  assert.match(String((failure as Error).message), /magic|wire|schema|decode/i);
});
