/**
 * Reads a topic from the beginning up to its current end (the high watermark at the start
 * of the read) with `read_committed`, decoded. For operators' commands, the demo and tests:
 * it uses a throw-away consumer group, deleted afterwards, so it never disturbs processors.
 */
import { randomUUID } from 'node:crypto';
import type { Batch, Kafka } from 'kafkajs';
import { PermitflowError } from '../lib/errors.ts';
import type { Serde } from '../schemas/serde.ts';
import type { TopicSpec } from '../topology/topics.ts';
import { stringHeaders } from '../lib/kafka.ts';

export interface ReadRecord<T> {
  key: string | null;
  value: T;
  partition: number;
  offset: string;
  timestamp: string;
  headers: Record<string, string>;
}

export interface ConsumeToEnd {
  topic: string;
  /** Partitions to read and the offset each must reach (its high watermark when the read began). */
  ends: ReadonlyMap<number, bigint>;
  timeoutMs: number;
  /** What the timeout error says was not finished. */
  what: string;
  onBatch(batch: Batch): Promise<void> | void;
}

/**
 * Consumes `topic` from the beginning with a throw-away group (read_committed) until every
 * partition in `ends` reached its end. Settles once: resolved at the end; rejected with the
 * first error of `onBatch`, a consumer crash kafkajs does not restart from, or the timeout.
 */
export async function consumeToEnd(kafka: Kafka, options: ConsumeToEnd): Promise<void> {
  const remaining = new Map(options.ends);
  if (remaining.size === 0) return;
  const groupId = `permitflow.reader.${randomUUID()}`;
  const consumer = kafka.consumer({ groupId, readUncommitted: false, allowAutoTopicCreation: false });
  await consumer.connect();
  let timer: NodeJS.Timeout | undefined;
  try {
    await consumer.subscribe({ topic: options.topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      timer = setTimeout(() => reject(PermitflowError.retriable('PF_READ_TIMEOUT', `${options.what} did not finish in ${options.timeoutMs} ms`)), options.timeoutMs);
      // Progress comes from the batch-end event, which kafkajs also emits for batches holding
      // only transaction markers or aborted records (eachBatch is not called for those).
      consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
        const end = remaining.get(payload.partition);
        if (end !== undefined && BigInt(payload.lastOffset) + 1n >= end) remaining.delete(payload.partition);
        if (remaining.size === 0) resolve();
      });
      // Errors of eachBatch and a failed join arrive here, not at run(): without this the cause
      // would only show as the timeout.
      consumer.on(consumer.events.CRASH, ({ payload }) => {
        if (!payload.restart) reject(payload.error);
      });
      consumer
        .run({
          eachBatch: async ({ batch }) => {
            try {
              await options.onBatch(batch);
            } catch (err) {
              reject(err instanceof Error ? err : new Error(String(err)));
            }
          },
        })
        .catch(reject);
    });
  } finally {
    clearTimeout(timer);
    await consumer.disconnect();
    const admin = kafka.admin();
    await admin.connect().then(() => admin.deleteGroups([groupId])).catch(() => undefined);
    await admin.disconnect();
  }
}

export async function readTopic<T>(kafka: Kafka, serde: Serde, topic: TopicSpec, options: { timeoutMs?: number } = {}): Promise<ReadRecord<T>[]> {
  const admin = kafka.admin();
  await admin.connect();
  // Only committed records count: under read_committed the last stable offset is the end.
  const ends = await admin.fetchTopicOffsets(topic.name).finally(() => admin.disconnect());
  const records: ReadRecord<T>[] = [];
  await consumeToEnd(kafka, {
    topic: topic.name,
    ends: new Map(ends.filter((p) => BigInt(p.high) > BigInt(p.low)).map((p) => [p.partition, BigInt(p.high)])),
    timeoutMs: options.timeoutMs ?? 60_000,
    what: `reading ${topic.name} to its end`,
    async onBatch(batch) {
      for (const m of batch.messages) {
        if (!m.value) continue;
        records.push({
          key: m.key?.toString('utf8') ?? null,
          value: await serde.decode<T>(topic, m.value),
          partition: batch.partition,
          offset: m.offset,
          timestamp: m.timestamp,
          headers: stringHeaders(m.headers),
        });
      }
    },
  });
  return records;
}
