/**
 * The runtime's per-record attempt budget on the real stack (issue 14): a record whose handler
 * keeps failing with an error nobody classified is isolated and dead-lettered with its error
 * chain after the budget, while every other record of its batch commits exactly once; a record
 * failing with an infrastructure error is retried past the budget and never dead-lettered; a
 * programmer error still stops the processor.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test, type TestContext } from 'node:test';
import type { Config } from '../../lib/config.ts';
import { PermitflowError } from '../../lib/errors.ts';
import { createKafka } from '../../lib/kafka.ts';
import { createLogger } from '../../lib/logger.ts';
import { runProcessor, type RunningProcessor } from '../../processors/runtime/runner.ts';
import type { Output, ProcessorDefinition } from '../../processors/runtime/types.ts';
import { createRegistry, createSerde } from '../../schemas/serde.ts';
import type { DeadLetter, SubmissionAccepted, SubmissionValidated } from '../../schemas/types.ts';
import type { Topology } from '../../topology/topics.ts';
import { readAll, waitFor } from '../support/pipeline.ts';
import { sampleRecords } from '../support/samples.ts';
import { testConfig, testTopology } from '../support/stack.ts';
import { produce } from './read-model-helpers.ts';

const logger = createLogger({ level: 'warn' });
const BUDGET = 3;

function validated(hash: string): SubmissionValidated {
  const sample = sampleRecords().SubmissionValidated as SubmissionValidated;
  return { ...sample, header: { ...sample.header, submissionHash: hash, idempotencyKey: hash } };
}

function accepted(record: SubmissionValidated): SubmissionAccepted {
  const sample = sampleRecords().SubmissionAccepted as SubmissionAccepted;
  return { ...sample, header: { ...record.header, state: 'accepted' } };
}

/** A decider stand-in: accepts every record, except that `fail(key, call)` may throw instead (or return warnings to put on it). */
function stage(topology: Topology, fail: (key: string, call: number) => string[] | void): ProcessorDefinition<SubmissionValidated> & { calls: Map<string, number> } {
  const calls = new Map<string, number>();
  return {
    id: 'decider',
    inputs: [topology.topics.validated],
    calls,
    process(record): Output[] {
      const call = (calls.get(record.key!) ?? 0) + 1;
      calls.set(record.key!, call);
      const warnings = fail(record.key!, call) ?? [];
      return [{ topic: topology.topics.accepted, key: record.key!, value: { ...accepted(record.value), warnings } }];
    },
  };
}

function run(t: TestContext, config: Config, topology: Topology, definition: ProcessorDefinition<SubmissionValidated>): RunningProcessor {
  const running = runProcessor(createKafka(config, logger), createSerde(createRegistry(config)), definition, {
    ...config.runtime,
    topology,
    logger,
    workerId: 'budget-test',
    recordAttempts: BUDGET,
  });
  t.after(() => running.stop());
  return running;
}

test('a record failing with an unclassified error is dead-lettered after its budget; the rest of its batch commits once', async (t) => {
  const config = await testConfig();
  const topology = await testTopology(t, config);
  const hashes = Array.from({ length: 20 }, () => randomBytes(32).toString('hex'));
  const poison = hashes[7]!;
  // A lookup that is down for a while: more failures than the budget, yet infrastructure.
  const flaky = hashes[15]!;
  // Partition 0: the poison among good records; partition 1: the flaky one among good records.
  await produce(config, topology, 'validated', hashes.map((hash, i) => ({ key: hash, value: validated(hash), partition: i < 10 ? 0 : 1 })));

  const definition = stage(topology, (key, call) => {
    if (key === poison) throw new Error('the handler cannot make sense of this record');
    if (key === flaky && call <= BUDGET + 2) throw PermitflowError.retriable('PF_LOOKUP_UNAVAILABLE', 'a lookup service is restarting');
  });
  const running = run(t, config, topology, definition);
  await running.started;

  await waitFor('19 accepted records and one dead letter', async () => {
    const [out, dlq] = await Promise.all([readAll(config, topology, 'accepted'), readAll(config, topology, 'dlq')]);
    return out.length >= 19 && dlq.length >= 1;
  }, 90_000, 500);

  const out = await readAll<SubmissionAccepted>(config, topology, 'accepted');
  assert.deepEqual(out.map((r) => r.key).sort(), hashes.filter((h) => h !== poison).sort(), 'every other record accepted exactly once, the flaky one too');
  const letters = (await readAll<DeadLetter>(config, topology, 'dlq')).map((r) => r.value);
  assert.equal(letters.length, 1, 'only the poison record is dead-lettered');
  const letter = letters[0]!;
  assert.equal(letter.submissionHash, poison);
  assert.equal(letter.errorClass, 'PF_ATTEMPTS_EXHAUSTED');
  assert.equal(letter.originalOffset, 7);
  assert.equal(letter.originalPartition, 0);
  assert.ok(letter.attempt >= BUDGET, `attempt ${letter.attempt} counts the failures`);
  assert.ok(letter.errorChain.some((line) => line.includes('the handler cannot make sense of this record')), JSON.stringify(letter.errorChain));
  assert.ok(letter.originalValue && letter.originalValue.length > 0, 'the original bytes are kept for a replay');
  const poisonCalls = definition.calls.get(poison)!;
  assert.ok(poisonCalls >= BUDGET && poisonCalls <= 2 * BUDGET, `the poison was tried ${poisonCalls} times: within the budget, not for ever`);
  assert.ok(definition.calls.get(flaky)! > BUDGET + 2, 'the infrastructure failure was retried past the budget');

  // Nothing left to process: the group committed to the end of both partitions.
  const admin = createKafka(config, logger).admin();
  await admin.connect();
  t.after(() => admin.disconnect());
  await waitFor('the group to commit to the end', async () => {
    const ends = await admin.fetchTopicOffsets(topology.topics.validated.name);
    const committed = (await admin.fetchOffsets({ groupId: topology.group('decider'), topics: [topology.topics.validated.name] }))[0]!.partitions;
    return ends.every((e) => e.high === '0' || committed.find((c) => c.partition === e.partition)?.offset === e.high);
  }, 30_000, 300);
});

test('a programmer error still stops the processor: nothing is dead-lettered', async (t) => {
  const config = await testConfig();
  const topology = await testTopology(t, config);
  const hash = randomBytes(32).toString('hex');
  await produce(config, topology, 'validated', [{ key: hash, value: validated(hash), partition: 0 }]);
  const running = run(t, config, topology, stage(topology, () => {
    throw new TypeError('cannot read properties of undefined');
  }));
  await assert.rejects(running.done, TypeError);
  assert.equal((await readAll(config, topology, 'dlq')).length, 0);
});

test('an output over Kafka\'s max message size is dead-lettered with the cause; the partition moves on', async (t) => {
  const config = await testConfig();
  const topology = await testTopology(t, config);
  const hashes = Array.from({ length: 5 }, () => randomBytes(32).toString('hex'));
  const huge = hashes[2]!;
  await produce(config, topology, 'validated', hashes.map((hash) => ({ key: hash, value: validated(hash), partition: 0 })));
  const running = run(t, config, topology, stage(topology, (key) => (key === huge ? ['w'.repeat(1_100_000)] : [])));
  await running.started;
  await waitFor('4 accepted records and one dead letter', async () => (await readAll(config, topology, 'accepted')).length >= 4 && (await readAll(config, topology, 'dlq')).length >= 1, 60_000, 500);

  assert.deepEqual((await readAll(config, topology, 'accepted')).map((r) => r.key).sort(), hashes.filter((h) => h !== huge).sort());
  const letters = (await readAll<DeadLetter>(config, topology, 'dlq')).map((r) => r.value);
  assert.equal(letters.length, 1);
  assert.equal(letters[0]!.submissionHash, huge);
  assert.equal(letters[0]!.errorClass, 'PF_RECORD_TOO_LARGE');
  assert.match(letters[0]!.errorMessage, /exceeds the 1000000 bytes Kafka accepts/);
});
