/**
 * The processor contract on the real stack (issue 12): a handler that writes a topic its
 * declaration (processors/<name>/topology.ts) does not name stops the processor, and nothing of
 * its transaction reaches either topic; a deployment that lacks a topic or a schema the
 * declaration needs stops it at start with a message naming what is missing.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test, type TestContext } from 'node:test';
import type { Kafka } from 'kafkajs';
import type { Config } from '../../lib/config.ts';
import { PermitflowError } from '../../lib/errors.ts';
import { createKafka } from '../../lib/kafka.ts';
import { createLogger } from '../../lib/logger.ts';
import { UndeclaredOutputError } from '../../processors/runtime/contract.ts';
import { runProcessor } from '../../processors/runtime/runner.ts';
import type { Output, ProcessorDefinition } from '../../processors/runtime/types.ts';
import { createRegistry, createSerde } from '../../schemas/serde.ts';
import type { SubmissionValidated } from '../../schemas/types.ts';
import { readAll } from '../support/pipeline.ts';
import { sampleRecords } from '../support/samples.ts';
import { buildTopology, type Topology } from '../../topology/topics.ts';
import { testConfig, testTopology } from '../support/stack.ts';
import { produce } from './read-model-helpers.ts';

const logger = createLogger({ level: 'silent' });

test('a handler writing a topic its processor did not declare stops the processor; nothing is written', { timeout: 90_000 }, async (t) => {
  const config = await testConfig();
  const topology = await testTopology(t, config);
  const hash = randomBytes(32).toString('hex');
  const sample = sampleRecords().SubmissionValidated as SubmissionValidated;
  await produce(config, topology, 'validated', [{ key: hash, value: { ...sample, header: { ...sample.header, submissionHash: hash, idempotencyKey: hash } }, partition: 0 }]);
  // A decider that also writes `enriched`, which processors/decider/topology.ts does not declare.
  const definition: ProcessorDefinition<SubmissionValidated> = {
    id: 'decider',
    inputs: [topology.topics.validated],
    process: (record): Output[] => [
      { topic: topology.topics.accepted, key: record.key!, value: { ...(sampleRecords().SubmissionAccepted as object), header: { ...record.value.header, state: 'accepted' } } },
      { topic: topology.topics.enriched, key: record.key!, value: sampleRecords().SubmissionEnriched },
    ],
  };
  const running = runProcessor(createKafka(config, logger), createSerde(createRegistry(config)), definition, { ...config.runtime, topology, logger, workerId: 'contract-test' });
  t.after(() => running.stop());
  await assert.rejects(running.done, (err: unknown) => err instanceof UndeclaredOutputError && /decider wrote topic .*state\.enriched/.test(err.message));
  assert.equal((await readAll(config, topology, 'accepted')).length, 0);
  assert.equal((await readAll(config, topology, 'enriched')).length, 0);
  assert.equal((await readAll(config, topology, 'dlq')).length, 0);
});

/** A decider that accepts everything: only the deployment can stop it. */
const decider = (topology: Topology): ProcessorDefinition => ({ id: 'decider', inputs: [topology.topics.validated], process: () => [] });

test('a topic the declaration needs is missing: the processor stops at start, naming it', { timeout: 90_000 }, async (t) => {
  const config = await testConfig();
  // Nothing applied: no topic of this namespace exists.
  const topology = buildTopology(config.topology);
  const running = runProcessor(createKafka(config, logger), createSerde(createRegistry(config)), decider(topology), { ...config.runtime, topology, logger, workerId: 'contract-test' });
  t.after(() => running.stop());
  // It never joins its group: `started` rejects with `done`.
  await assert.rejects(running.started);
  await assert.rejects(running.done, (err: unknown) => {
    assert.ok(err instanceof PermitflowError && err.code === 'PF_TOPIC_MISSING', String(err));
    assert.match(err.message, new RegExp(`processor decider cannot start: topics ${topology.topics.validated.name}, ${topology.topics.accepted.name}, .*missing: run \`permitflow topology apply\``));
    return true;
  });
});

/** A namespace holding the decider's topics (created here, deleted after the test) and nothing else: no schema. */
async function deciderTopicsOnly(t: TestContext): Promise<{ config: Config; topology: Topology; kafka: Kafka }> {
  const config = await testConfig();
  const topology = buildTopology(config.topology);
  const kafka = createKafka(config, logger);
  const admin = kafka.admin();
  await admin.connect();
  const names = [topology.topics.validated, topology.topics.accepted, topology.topics.rejected, topology.topics.dlq].map((s) => s.name);
  await admin.createTopics({ topics: names.map((topic) => ({ topic, numPartitions: 1 })), waitForLeaders: true });
  t.after(async () => {
    await admin.deleteTopics({ topics: names }).catch(() => undefined);
    await admin.disconnect();
  });
  return { config, topology, kafka };
}

test('a schema the declaration writes is not registered: the processor stops at start, naming the subject', { timeout: 90_000 }, async (t) => {
  // The decider's topics, but no schema registered.
  const { config, topology, kafka } = await deciderTopicsOnly(t);
  const running = runProcessor(kafka, createSerde(createRegistry(config)), decider(topology), { ...config.runtime, topology, logger, workerId: 'contract-test' });
  t.after(() => running.stop());
  // It never joins its group: `started` rejects with `done`.
  await assert.rejects(running.started);
  await assert.rejects(running.done, (err: unknown) => {
    assert.ok(err instanceof PermitflowError && err.code === 'PF_SCHEMA_NOT_REGISTERED', String(err));
    assert.match(err.message, new RegExp(`the current schema is not registered under ${topology.topics.accepted.subject} \\(.*\\), ${topology.topics.rejected.subject} \\(.*\\), ${topology.topics.dlq.subject} \\(.*\\)`));
    return true;
  });
});

test('a subject holding only another version of the schema: the processor stops at start instead of retrying every encode', { timeout: 90_000 }, async (t) => {
  // A long-lived stack upgraded without `topology apply`: the subjects exist, the new version does not.
  const { config, topology, kafka } = await deciderTopicsOnly(t);
  const serde = createSerde(createRegistry(config));
  const older = { type: 'record', name: 'SubmissionAccepted', namespace: 'permitflow', fields: [{ name: 'submissionId', type: 'string' }] };
  for (const topic of [topology.topics.accepted, topology.topics.rejected, topology.topics.dlq]) await serde.register(topic.subject, older);
  const running = runProcessor(kafka, serde, decider(topology), { ...config.runtime, topology, logger, workerId: 'contract-test' });
  t.after(() => running.stop());
  await assert.rejects(running.started);
  await assert.rejects(running.done, (err: unknown) => {
    assert.ok(err instanceof PermitflowError && err.code === 'PF_SCHEMA_NOT_REGISTERED', String(err));
    assert.match(err.message, new RegExp(`the current schema is not registered under ${topology.topics.accepted.subject} \\(SubmissionAccepted\\)`));
    return true;
  });
});
