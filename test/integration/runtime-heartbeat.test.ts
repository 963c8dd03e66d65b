/**
 * The runtime heartbeats while a batch is in hand (processors/runtime/heartbeat.ts), on the
 * default client (kafkajs), which otherwise heartbeats only between transactions: a handler that
 * runs longer than the session timeout keeps its partitions. The group keeps the same member
 * (a member the broker expired rejoins under a new id), and the record is handled and committed
 * once. Without the heartbeat the broker expires the member after 6 s and the test fails.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { test } from 'node:test';
import { createKafka } from '../../lib/kafka.ts';
import { createLogger } from '../../lib/logger.ts';
import { runProcessor } from '../../processors/runtime/runner.ts';
import type { Output, ProcessorDefinition } from '../../processors/runtime/types.ts';
import { createRegistry, createSerde } from '../../schemas/serde.ts';
import type { SubmissionAccepted, SubmissionValidated } from '../../schemas/types.ts';
import { readAll, waitFor } from '../support/pipeline.ts';
import { sampleRecords } from '../support/samples.ts';
import { testConfig, testTopology } from '../support/stack.ts';
import { produce } from './read-model-helpers.ts';

const logger = createLogger({ level: 'warn' });
/** The broker's smallest session timeout (group.min.session.timeout.ms): the handler takes twice as long. */
const SESSION_TIMEOUT_MS = 6_000;
const HANDLER_MS = 2 * SESSION_TIMEOUT_MS;

test('a handler slower than the session timeout keeps its partitions: no rebalance, the record committed once', { timeout: 120_000 }, async (t) => {
  const config = await testConfig({ PERMITFLOW_SESSION_TIMEOUT_MS: String(SESSION_TIMEOUT_MS), PERMITFLOW_PARTITIONS: '1', KAFKA_CLIENT: 'kafkajs' });
  const topology = await testTopology(t, config);
  const kafka = createKafka(config, logger);
  const admin = kafka.admin();
  await admin.connect();
  t.after(() => admin.disconnect());

  const sample = sampleRecords();
  const hash = randomBytes(32).toString('hex');
  let calls = 0;
  // A decider stand-in whose one record takes as long as a burst of scans would in the extractor.
  const definition: ProcessorDefinition<SubmissionValidated> = {
    id: 'decider',
    inputs: [topology.topics.validated],
    async process(record, ctx): Promise<Output[]> {
      calls += 1;
      await delay(HANDLER_MS, undefined, { signal: ctx.signal });
      const accepted = sample.SubmissionAccepted as SubmissionAccepted;
      return [{ topic: topology.topics.accepted, key: record.key!, value: { ...accepted, header: { ...record.value.header, state: 'accepted' } } }];
    },
  };
  const running = runProcessor(kafka, createSerde(createRegistry(config)), definition, { ...config.runtime, topology, logger, workerId: 'heartbeat-test' });
  t.after(() => running.stop());
  await running.started;

  const groupId = topology.group('decider');
  const members = async () => (await admin.describeGroups([groupId])).groups[0]!.members.map((m) => m.memberId);
  await waitFor('the group stable with its one member', async () => (await admin.describeGroups([groupId])).groups[0]!.state === 'Stable', 30_000, 200);
  const before = await members();
  assert.equal(before.length, 1);

  const validated = sample.SubmissionValidated as SubmissionValidated;
  await produce(config, topology, 'validated', [{ key: hash, value: { ...validated, header: { ...validated.header, submissionHash: hash, idempotencyKey: hash } }, partition: 0 }]);
  await waitFor('the slow record accepted', async () => (await readAll(config, topology, 'accepted')).length >= 1, 60_000, 250);
  // The runtime heartbeats once more after the transaction: a member the broker expired learns it there and rejoins.
  await waitFor('the group stable again', async () => (await admin.describeGroups([groupId])).groups[0]!.state === 'Stable', 30_000, 200);

  assert.deepEqual(await members(), before, 'the same member owns the partition: the broker never expired it');
  assert.equal(calls, 1, 'the record was handled once');
  assert.deepEqual((await readAll<SubmissionAccepted>(config, topology, 'accepted')).map((r) => r.key), [hash]);
});
