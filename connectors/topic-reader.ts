/**
 * Reads a topic from the beginning up to its current end (the high watermark at the start
 * of the read) with `read_committed`, decoded. For operators' commands, the demo and tests,
 * through the one range reader (lib/range-reader.ts), which never disturbs processors.
 */
import type { Kafka } from 'kafkajs';
import { rangesToEnd, readRanges } from '../lib/range-reader.ts';
import type { Serde } from '../schemas/serde.ts';
import type { TopicSpec } from '../topology/topics.ts';

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
  // Only committed records count: under read_committed the last stable offset is the end.
  const ends = await admin.fetchTopicOffsets(topic.name).finally(() => admin.disconnect());
  const records: ReadRecord<T>[] = [];
  await readRanges(kafka, {
    topic: topic.name,
    ranges: rangesToEnd(ends),
    timeoutMs: options.timeoutMs ?? 60_000,
    what: `reading ${topic.name} to its end`,
    async onRecords(partition, batch) {
      for (const m of batch) {
        if (!m.value) continue;
        records.push({
          key: m.key?.toString('utf8') ?? null,
          value: await serde.decode<T>(topic, m.value),
          partition,
          offset: m.offset.toString(),
          timestamp: String(m.timestamp),
          headers: m.headers,
        });
      }
    },
  });
  return records;
}
