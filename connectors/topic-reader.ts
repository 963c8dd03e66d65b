/**
 * Reads a topic from the beginning up to its current end (the high watermark at the start
 * of the read) with `read_committed`, decoded. For operators' commands, the demo and tests:
 * it uses a throw-away consumer group, deleted afterwards, so it never disturbs processors.
 */
import { randomUUID } from 'node:crypto';
import type { Kafka } from 'kafkajs';
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

export async function readTopic<T>(kafka: Kafka, serde: Serde, topic: TopicSpec, options: { timeoutMs?: number } = {}): Promise<ReadRecord<T>[]> {
  const admin = kafka.admin();
  await admin.connect();
  const groupId = `permitflow.reader.${randomUUID()}`;
  try {
    // Only committed records count: under read_committed the last stable offset is the end.
    const ends = await admin.fetchTopicOffsets(topic.name);
    const remaining = new Map(ends.filter((p) => BigInt(p.high) > BigInt(p.low)).map((p) => [p.partition, BigInt(p.high)]));
    const records: ReadRecord<T>[] = [];
    if (remaining.size === 0) return records;

    const consumer = kafka.consumer({ groupId, readUncommitted: false, allowAutoTopicCreation: false });
    await consumer.connect();
    try {
      await consumer.subscribe({ topic: topic.name, fromBeginning: true });
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(PermitflowError.retriable('PF_READ_TIMEOUT', `reading ${topic.name} did not reach its end in ${options.timeoutMs ?? 60_000} ms`)), options.timeoutMs ?? 60_000);
        const done = (p: number, nextOffset: bigint) => {
          const end = remaining.get(p);
          if (end !== undefined && nextOffset >= end) remaining.delete(p);
          if (remaining.size === 0) {
            clearTimeout(timer);
            resolve();
          }
        };
        // Progress comes from the batch-end event, which kafkajs also emits for batches holding
        // only transaction markers or aborted records (eachBatch is not called for those).
        consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => done(payload.partition, BigInt(payload.lastOffset) + 1n));
        consumer
          .run({
            eachBatch: async ({ batch }) => {
              for (const m of batch.messages) {
                if (m.value) {
                  records.push({
                    key: m.key?.toString('utf8') ?? null,
                    value: await serde.decode<T>(topic, m.value),
                    partition: batch.partition,
                    offset: m.offset,
                    timestamp: m.timestamp,
                    headers: stringHeaders(m.headers),
                  });
                }
              }
            },
          })
          .catch(reject);
      });
    } finally {
      await consumer.disconnect();
    }
    return records;
  } finally {
    await admin.deleteGroups([groupId]).catch(() => undefined);
    await admin.disconnect();
  }
}
