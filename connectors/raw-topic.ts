/**
 * Producer of submission envelopes to the raw topic, shared by the HTTP intake, the file-drop
 * importer and the demo. Idempotent (no duplicates from producer retries), `acks=all` (a
 * resolved send is on every in-sync replica), keyed by submission hash with the Java-compatible
 * murmur2 partitioner, so agencies producing from other clients land on the same partitions.
 */
import { Partitioners, type Kafka, type Producer } from 'kafkajs';
import type { Serde } from '../schemas/serde.ts';
import type { SubmissionEnvelope } from '../schemas/types.ts';
import type { TopicSpec } from '../topology/topics.ts';

export interface RawProducer {
  send(envelopes: SubmissionEnvelope[]): Promise<void>;
  close(): Promise<void>;
}

export async function createRawProducer(kafka: Kafka, serde: Serde, rawTopic: TopicSpec): Promise<RawProducer> {
  const producer: Producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  await producer.connect();
  return {
    async send(envelopes) {
      const messages = await Promise.all(
        envelopes.map(async (e) => ({
          key: e.submissionHash,
          value: await serde.encode(rawTopic, e),
          headers: e.traceparent ? { traceparent: e.traceparent } : {},
        })),
      );
      await producer.send({ topic: rawTopic.name, acks: -1, messages });
    },
    close: () => producer.disconnect(),
  };
}
