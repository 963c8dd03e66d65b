/**
 * Lag at rest is 0 (issue 12): a transactional producer's commit marker trails its records, and
 * no fetched batch carries it alone, so a stage's committed offset stopped one short of the end
 * of each partition and `permitflow status` and the lag alert read 1 per partition with nothing
 * pending; after an aborted transaction (a fenced zombie's, say) by its records and marker too.
 * An idle partition now commits past them. On both runtime clients.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { createKafka } from '../../lib/kafka.ts';
import { fetchGroupLag } from '../../lib/lag.ts';
import { createLogger } from '../../lib/logger.ts';
import { runProcessor } from '../../processors/runtime/runner.ts';
import type { Output, ProcessorDefinition } from '../../processors/runtime/types.ts';
import { createRegistry, createSerde } from '../../schemas/serde.ts';
import type { SubmissionAccepted, SubmissionValidated } from '../../schemas/types.ts';
import { readAll, waitFor } from '../support/pipeline.ts';
import { sampleRecords } from '../support/samples.ts';
import { testConfig, testTopology } from '../support/stack.ts';

const logger = createLogger({ level: 'warn' });
const PER_PARTITION = 10;
/** Records of the aborted transaction that ends each partition. */
const ABORTED = 2;

for (const client of ['kafkajs', 'confluent'] as const) {
  test(`after a transactional producer's records are processed, the stage's lag reads 0 on every partition (${client})`, async (t) => {
    const config = await testConfig({ KAFKA_CLIENT: client });
    const topology = await testTopology(t, config);
    const kafka = createKafka(config, logger);
    const serde = createSerde(createRegistry(config));
    const validated = topology.topics.validated;

    // Input written in transactions: a committed one per partition now, an aborted one once the stage has caught up.
    const producer = kafka.producer({ transactionalId: `lag-at-rest-${randomBytes(4).toString('hex')}`, idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    t.after(() => producer.disconnect());
    const aborts: (() => Promise<void>)[] = [];
    const sample = sampleRecords().SubmissionValidated as SubmissionValidated;
    for (let partition = 0; partition < config.topology.partitions; partition++) {
      const messages = await Promise.all(
        Array.from({ length: PER_PARTITION }, async () => {
          const hash = randomBytes(32).toString('hex');
          return { key: hash, partition, value: await serde.encode(validated, { ...sample, header: { ...sample.header, submissionHash: hash, idempotencyKey: hash } }) };
        }),
      );
      const txn = await producer.transaction();
      await txn.send({ topic: validated.name, acks: -1, messages });
      await txn.commit();
      aborts.push(async () => {
        const aborted = await producer.transaction();
        await aborted.send({ topic: validated.name, acks: -1, messages: messages.slice(0, ABORTED) });
        await aborted.abort();
      });
    }

    // A decider stand-in that accepts every record.
    const accepted = sampleRecords().SubmissionAccepted as SubmissionAccepted;
    const definition: ProcessorDefinition<SubmissionValidated> = {
      id: 'decider',
      inputs: [validated],
      process: (record): Output[] => [{ topic: topology.topics.accepted, key: record.key!, value: { ...accepted, header: { ...record.value.header, state: 'accepted' } } }],
    };
    const running = runProcessor(kafka, serde, definition, { ...config.runtime, topology, logger, workerId: `lag-${client}` });
    t.after(() => running.stop());

    const total = PER_PARTITION * config.topology.partitions;
    await waitFor(`${total} accepted`, async () => (await readAll(config, topology, 'accepted')).length >= total, 120_000, 500);
    // Fetched alone, an aborted transaction's records and marker reach no batch of either client.
    for (const abort of aborts) await abort();

    const admin = kafka.admin();
    await admin.connect();
    t.after(() => admin.disconnect());
    let lag = await fetchGroupLag(admin, topology.group('decider'), [validated.name]);
    await waitFor('the stage to read lag 0 at rest', async () => {
      lag = await fetchGroupLag(admin, topology.group('decider'), [validated.name]);
      return lag.lag === 0;
    }, 90_000, 1_000).catch((err: unknown) => {
      throw new Error(`lag at rest: ${JSON.stringify(lag.partitions)}`, { cause: err });
    });
    // Each partition's position is its end: records, commit marker, aborted records, abort marker.
    for (const p of lag.partitions) assert.equal(p.position, PER_PARTITION + 1 + ABORTED + 1, `partition ${p.partition}: ${JSON.stringify(p)}`);
    assert.equal((await readAll(config, topology, 'accepted')).length, total, 'each record accepted once');
  });
}
