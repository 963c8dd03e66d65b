/**
 * runSink, the one lifecycle of the sinks (read model, notifier, archiver), on a fake consumer:
 * a batch is retried until it applies and only then resolved; an error that stops the sink stops
 * it and `done` rejects with it; a stale batch is given up; a recovery that repositions the
 * partition abandons the batch; a stopping sink leaves the batch unresolved; a topic the
 * declaration reads and the deployment lacks stops the sink before it joins. The real-stack
 * behaviour is in the sinks' crash tests and cli-signals.
 */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { test } from 'node:test';
import type { Consumer, EachBatchPayload, Kafka } from 'kafkajs';
import { PermitflowError } from '../../lib/errors.ts';
import { createLogger } from '../../lib/logger.ts';
import { runSink, type SinkOptions } from '../../lib/sink-runner.ts';
import type { Serde } from '../../schemas/serde.ts';
import { buildTopology } from '../../topology/topics.ts';

const topology = buildTopology({ namespace: 'sink', partitions: 1, replicationFactor: 1, minCompactionLagMs: 0 });
const logger = createLogger({ level: 'silent' });
const inputs = [topology.topics.received];

function fakeKafka(existing: string[]): Kafka {
  return { admin: () => ({ connect: () => Promise.resolve(), disconnect: () => Promise.resolve(), listTopics: () => Promise.resolve(existing) }) } as unknown as Kafka;
}

function fakeConsumer() {
  const emitter = new EventEmitter();
  let eachBatch: ((payload: EachBatchPayload) => Promise<void>) | undefined;
  const calls: string[] = [];
  const consumer = {
    events: { GROUP_JOIN: 'consumer.group_join', CRASH: 'consumer.crash' },
    on: (event: string, listener: (e: unknown) => void) => emitter.on(event, listener),
    connect: () => (calls.push('connect'), Promise.resolve()),
    subscribe: () => Promise.resolve(),
    run: (options: { eachBatch: (payload: EachBatchPayload) => Promise<void> }) => {
      eachBatch = options.eachBatch;
      emitter.emit('consumer.group_join', { payload: { memberAssignment: { [inputs[0]!.name]: [0] } } });
      return Promise.resolve();
    },
    stop: () => (calls.push('stop'), Promise.resolve()),
    disconnect: () => (calls.push('disconnect'), Promise.resolve()),
  } as unknown as Consumer;
  return { consumer, calls, batch: () => eachBatch };
}

function fakePayload(state: { stale?: boolean } = {}) {
  const resolved: string[] = [];
  const payload = {
    batch: { topic: inputs[0]!.name, partition: 0, messages: [], lastOffset: () => '41' },
    isRunning: () => true,
    isStale: () => state.stale ?? false,
    heartbeat: () => Promise.resolve(),
    resolveOffset: (offset: string) => resolved.push(offset),
    commitOffsetsIfNecessary: () => Promise.resolve(),
  } as unknown as EachBatchPayload;
  return { payload, resolved };
}

function sink(overrides: Partial<SinkOptions> & Pick<SinkOptions, 'apply'>, existing: string[]) {
  const fake = fakeConsumer();
  const running = runSink({ processor: 'read-model', kafka: fakeKafka(existing), serde: {} as Serde, topology, logger, consumer: fake.consumer, inputs, partitionsConcurrently: 1, sessionTimeoutMs: 30, autoCommit: true, ...overrides });
  return { ...fake, running };
}

// The read model's declaration reads every state topic; the fake deployment has them all.
const deployed = Object.values(topology.topics).map((t) => t.name);

test('a failing batch is retried until it applies, and only then resolved', { timeout: 10_000 }, async () => {
  let attempts = 0;
  const { running, batch } = sink({ apply: () => (++attempts < 3 ? Promise.reject(new Error('connection reset')) : Promise.resolve()) }, deployed);
  await running.started;
  const { payload, resolved } = fakePayload();
  await batch()!(payload);
  assert.equal(attempts, 3);
  assert.deepEqual(resolved, ['41']);
  await running.stop();
  await running.done;
});

test('an error that stops the sink stops it: the batch stays unresolved, the consumer leaves, done rejects with it', { timeout: 10_000 }, async () => {
  const bug = new TypeError('undefined is not a function');
  let closed = false;
  const { running, batch, calls } = sink({ apply: () => Promise.reject(bug), close: () => ((closed = true), Promise.resolve()) }, deployed);
  await running.started;
  const { payload, resolved } = fakePayload();
  await batch()!(payload);
  await assert.rejects(running.done, (err) => err === bug);
  assert.deepEqual(resolved, []);
  assert.ok(calls.includes('stop') && calls.includes('disconnect'));
  assert.ok(closed);
});

test('a stale batch (its partition revoked) is given up, not retried for ever', { timeout: 10_000 }, async () => {
  const state = { stale: false };
  let attempts = 0;
  const { running, batch } = sink(
    {
      apply: () => {
        attempts++;
        state.stale = true;
        return Promise.reject(new Error('connection reset'));
      },
    },
    deployed,
  );
  await running.started;
  const { payload, resolved } = fakePayload(state);
  await batch()!(payload);
  assert.equal(attempts, 1);
  assert.deepEqual(resolved, []);
  await running.stop();
});

test('a recovery that repositions the partition abandons the batch; a stop during the pause leaves it unresolved', { timeout: 10_000 }, async () => {
  const recovered: number[] = [];
  const first = sink({ apply: () => Promise.reject(new Error('write failed')), recover: ({ batch }) => (recovered.push(batch.partition), Promise.resolve('abandon' as const)) }, deployed);
  await first.running.started;
  const abandoned = fakePayload();
  await first.batch()!(abandoned.payload);
  assert.deepEqual(recovered, [0]);
  assert.deepEqual(abandoned.resolved, []);
  await first.running.stop();

  const second = sink({ apply: () => Promise.reject(new Error('write failed')), sessionTimeoutMs: 300_000 }, deployed);
  await second.running.started;
  const left = fakePayload();
  const handling = second.batch()!(left.payload);
  await second.running.stop();
  await handling;
  assert.deepEqual(left.resolved, []);
});

test('a topic the declaration reads and the deployment lacks stops the sink before it joins, naming it', { timeout: 10_000 }, async () => {
  const { running, calls } = sink({ apply: () => Promise.resolve() }, deployed.filter((name) => name !== topology.topics.dlq.name));
  await assert.rejects(running.done, (err) => err instanceof PermitflowError && err.code === 'PF_TOPIC_MISSING' && err.message.includes(topology.topics.dlq.name) && /topology apply/.test(err.message));
  await assert.rejects(running.started);
  assert.ok(!calls.includes('connect'), 'the consumer never connected');
});
