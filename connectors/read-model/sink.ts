/**
 * The read-model sink: consumes every state topic, the batch manifests and the DLQ with its own
 * kafkajs consumer (group `permitflow.read-model`, read_committed) and applies each fetched
 * batch to PostgreSQL in one transaction with its offset (write.ts).
 *
 * PostgreSQL is the source of truth for progress: on every assignment the consumer seeks each
 * partition to the offset stored there (or the log start). Kafka offsets are committed too, but
 * only after the PostgreSQL commit and only so consumer lag (Redpanda Console, the intake's
 * backpressure) reads naturally; they are never trusted on restart.
 *
 * It is not a consume-transform-produce processor (it produces nothing), so it runs as a sink
 * (lib/sink-runner.ts: deployment check, retries with backoff, crash restarts, fatal stops).
 *
 * A data error (classify() says dead-letter: PostgreSQL refused a value, say an index row over
 * the btree maximum) fails the same way on every retry, so it must not hold the partition: the
 * batch is split in halves, each applied in its own transaction with the offset after it,
 * until the refused record stands alone; that one is set aside as a dead letter of the read
 * model (`dead_letters`, stage `read-model`, its cause, no content) and the partition moves
 * on. The stored offsets keep every other record applied exactly once.
 */
import type { EachBatchPayload, Kafka, KafkaMessage } from 'kafkajs';
import type pg from 'pg';
import { Counter, Histogram } from 'prom-client';
import { classify, PermitflowError } from '../../lib/errors.ts';
import type { Logger } from '../../lib/logger.ts';
import type { Serde } from '../../schemas/serde.ts';
import type { BatchManifest, DeadLetter } from '../../schemas/types.ts';
import { runSink, type RunningSink } from '../../lib/sink-runner.ts';
import { createStageConsumer } from '../../lib/stage-consumer.ts';
import { PROCESSORS, type TopicSpec, type Topology } from '../../topology/topics.ts';
import { deadLetterRecord, refusedRecord, stateRecord, type StateRecord } from './records.ts';
import { applyBatch, type SinkRecord } from './write.ts';

export interface ReadModelSinkOptions {
  kafka: Kafka;
  serde: Serde;
  pool: pg.Pool;
  topology: Topology;
  logger: Logger;
  partitionsConcurrently: number;
  maxBytesPerPartition: number;
  sessionTimeoutMs: number;
  /** Stamped on the dead letters the sink writes for records PostgreSQL refused. */
  workerId: string;
  /** Before joining (after the deployment check): the migrations. */
  prepare?: () => Promise<void>;
  /** After leaving the group: the pool's end, when the sink owns it. */
  close?: () => Promise<void>;
}

export type { RunningSink } from '../../lib/sink-runner.ts';

const metrics = {
  records: new Counter({ name: 'permitflow_read_model_records_total', help: 'Records applied to the read model, by topic', labelNames: ['topic'] }),
  duplicates: new Counter({ name: 'permitflow_read_model_duplicates_total', help: 'State records and dead letters already in the read model (no effect)', labelNames: ['topic'] }),
  batches: new Counter({ name: 'permitflow_read_model_batches_completed_total', help: 'Windower batches completed (permits published)' }),
  refused: new Counter({ name: 'permitflow_read_model_refused_total', help: 'Records PostgreSQL refused (data errors), set aside as dead letters', labelNames: ['topic'] }),
  seconds: new Histogram({ name: 'permitflow_read_model_transaction_seconds', help: 'Time of one read-model transaction', buckets: [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5] }),
};

const HEADER_SCHEMAS: ReadonlySet<string> = new Set(['SubmissionReceived', 'SubmissionChunked', 'SubmissionEnriched', 'SubmissionValidated', 'SubmissionAccepted', 'SubmissionRejected']);

export function runReadModelSink(options: ReadModelSinkOptions): RunningSink {
  const { kafka, serde, pool, topology } = options;
  const group = topology.group('read-model');
  const logger = options.logger.child({ processor: 'read-model', groupId: group });
  const inputs: TopicSpec[] = PROCESSORS['read-model'].inputs.map((id) => topology.topics[id]);
  const byName = new Map(inputs.map((t) => [t.name, t]));
  const topicsByName = new Map(Object.values(topology.topics).map((t) => [t.name, t]));

  const consumer = createStageConsumer(kafka, group, options);

  /**
   * The batch of a dead letter that does not name one (letters written before the runtime
   * stamped it, or whose record did not decode at the stage): read from the original record's
   * header when it decodes.
   */
  async function originalBatchId(letter: DeadLetter): Promise<string | null> {
    const topic = topicsByName.get(letter.originalTopic);
    // State records and the enricher's retry topics (chunked records) carry a header; envelopes and manifests do not.
    if (!topic || !letter.originalValue || !HEADER_SCHEMAS.has(topic.schema)) return null;
    try {
      const original = await serde.decode<{ header?: { batchId?: string | null } }>(topic, letter.originalValue);
      return original.header?.batchId ?? null;
    } catch {
      return null;
    }
  }

  async function toSinkRecord(topic: TopicSpec, message: KafkaMessage): Promise<SinkRecord> {
    const offset = BigInt(message.offset);
    if (!message.value) return { kind: 'unreadable', offset, error: 'record has no value' };
    try {
      if (topic.id === 'batches') return { kind: 'manifest', offset, manifest: await serde.decode<BatchManifest>(topic, message.value) };
      if (topic.id === 'dlq') {
        const letter = await serde.decode<DeadLetter>(topic, message.value);
        return { kind: 'dead-letter', offset, ...deadLetterRecord(letter, letter.batchId ?? (await originalBatchId(letter))) };
      }
      return { kind: 'state', offset, ...stateRecord(await serde.decode<StateRecord>(topic, message.value)) };
    } catch (err) {
      // A record that will never decode is recorded and skipped; anything else retries the batch.
      if (classify(err) !== 'dead-letter') throw err;
      logger.warn({ topic: topic.name, offset: message.offset, err }, 'unreadable record skipped');
      return { kind: 'unreadable', offset, error: err instanceof Error ? err.message : String(err) };
    }
  }

  /** The submission and trace a sink record names, for the dead letter of a refused one. */
  function provenance(record: SinkRecord): { submissionHash: string | null; traceId: string | null } {
    if (record.kind === 'state') return { submissionHash: record.event.submissionHash, traceId: record.event.traceId };
    if (record.kind === 'dead-letter') return { submissionHash: record.row.submissionHash, traceId: record.row.traceId };
    return { submissionHash: null, traceId: null };
  }

  /**
   * Applies `records` (ending at `nextOffset`) in one transaction; on a data error, halves
   * them until the refused record is alone and sets that one aside (see the header comment).
   */
  async function applyIsolating(client: pg.ClientBase, topic: TopicSpec, partition: number, records: SinkRecord[], nextOffset: bigint): Promise<void> {
    try {
      const result = await applyBatch(client, { group, topic: topic.name, partition, records, nextOffset });
      metrics.records.inc({ topic: topic.id }, result.applied);
      if (result.duplicates > 0) {
        metrics.duplicates.inc({ topic: topic.id }, result.duplicates);
        logger.info({ topic: topic.name, partition, duplicates: result.duplicates }, 'duplicate records ignored');
      }
      metrics.batches.inc(result.completedBatches.length);
      return;
    } catch (err) {
      if (classify(err) !== 'dead-letter' || records.length === 0) throw err;
      if (records.length > 1) {
        const half = Math.ceil(records.length / 2);
        await applyIsolating(client, topic, partition, records.slice(0, half), records[half]!.offset);
        await applyIsolating(client, topic, partition, records.slice(half), nextOffset);
        return;
      }
      const record = records[0]!;
      const sqlState = (err as { code?: unknown }).code;
      const refusal = PermitflowError.permanent('PF_READ_MODEL_REFUSED', `PostgreSQL refused the ${record.kind} record at ${topic.name}/${partition}@${record.offset}${typeof sqlState === 'string' ? ` (SQLSTATE ${sqlState})` : ''}`, { cause: err });
      logger.warn({ topic: topic.name, partition, offset: record.offset.toString(), err: refusal }, 'record refused by PostgreSQL: set aside as a dead letter');
      metrics.refused.inc({ topic: topic.id });
      const letter = refusedRecord({ group, topic: topic.name, partition, offset: record.offset, workerId: options.workerId, ...provenance(record) }, refusal);
      await applyBatch(client, { group, topic: topic.name, partition, records: [{ kind: 'dead-letter', offset: record.offset, ...letter }], nextOffset });
    }
  }

  async function apply(payload: EachBatchPayload): Promise<void> {
    const { batch } = payload;
    const topic = byName.get(batch.topic)!;
    const records = await Promise.all(batch.messages.map((m) => toSinkRecord(topic, m)));
    const end = metrics.seconds.startTimer();
    const client = await pool.connect();
    // A connection PostgreSQL ends between two queries (a restart, pg_terminate_backend) is told
    // as an 'error' event on the checked-out client: unheard, it killed the process. The next
    // query fails instead, the batch is retried, and the broken client is destroyed, not pooled.
    let lost: Error | undefined;
    const onLost = (err: Error): void => {
      lost = err;
    };
    client.on('error', onLost);
    try {
      await applyIsolating(client, topic, batch.partition, records, BigInt(batch.lastOffset()) + 1n);
    } finally {
      client.off('error', onLost);
      client.release(lost);
      end();
    }
  }

  /** Seeks every assigned partition to the offset PostgreSQL holds (or the log start). */
  async function seekToStored(assignment: Record<string, number[]>): Promise<void> {
    const { rows } = await pool.query<{ topic: string; partition: number; next_offset: string }>('SELECT topic, partition, next_offset FROM sink_offsets WHERE consumer_group = $1', [group]);
    const stored = new Map(rows.map((r) => [`${r.topic}/${r.partition}`, r.next_offset]));
    const admin = kafka.admin();
    await admin.connect();
    try {
      for (const [topic, partitions] of Object.entries(assignment)) {
        const low = new Map((await admin.fetchTopicOffsets(topic)).map((o) => [o.partition, o.low]));
        for (const partition of partitions) {
          const offset = stored.get(`${topic}/${partition}`) ?? low.get(partition) ?? '0';
          consumer.seek({ topic, partition, offset });
        }
      }
    } finally {
      await admin.disconnect();
    }
    logger.info({ partitions: Object.values(assignment).flat().length }, 'read model sought to its stored offsets');
  }

  return runSink({
    processor: 'read-model',
    kafka,
    serde,
    topology,
    logger,
    consumer,
    inputs,
    partitionsConcurrently: options.partitionsConcurrently,
    sessionTimeoutMs: options.sessionTimeoutMs,
    autoCommit: true,
    ...(options.prepare && { prepare: options.prepare }),
    onAssignment: (assignment) =>
      seekToStored(assignment).catch((err: unknown) => {
        // Without the stored offsets the records below them are still skipped inside each transaction.
        logger.warn({ err }, 'could not seek to the stored offsets');
      }),
    apply,
    ...(options.close && { close: options.close }),
  });
}
