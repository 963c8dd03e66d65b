/**
 * The processor contract on the real stack (issue 12): a handler that writes a topic its
 * declaration (processors/<name>/topology.ts) does not name stops the processor, and nothing of
 * its transaction reaches either topic.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { createKafka } from '../../lib/kafka.ts';
import { createLogger } from '../../lib/logger.ts';
import { UndeclaredOutputError } from '../../processors/runtime/contract.ts';
import { runProcessor } from '../../processors/runtime/runner.ts';
import type { Output, ProcessorDefinition } from '../../processors/runtime/types.ts';
import { createRegistry, createSerde } from '../../schemas/serde.ts';
import type { SubmissionValidated } from '../../schemas/types.ts';
import { readAll } from '../support/pipeline.ts';
import { sampleRecords } from '../support/samples.ts';
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
