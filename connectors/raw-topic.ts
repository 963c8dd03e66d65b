/**
 * Producer of submission envelopes to the raw topic, shared by the HTTP intake, the file-drop
 * importer and the demo. An envelope whose payload is a PDF still to be read goes to the
 * extraction stage's input instead (`submissions.extract`), when the producer is given it. Idempotent (no duplicates from producer retries), `acks=all` (a
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

/** Payloads of this media type are applications still to be read by the extraction stage. */
const TO_EXTRACT = 'application/pdf';

export async function createRawProducer(kafka: Kafka, serde: Serde, rawTopic: TopicSpec, extractTopic?: TopicSpec): Promise<RawProducer> {
  const topicOf = (e: SubmissionEnvelope): TopicSpec => {
    if (e.payload.contentType !== TO_EXTRACT) return rawTopic;
    // Nothing on raw may be a PDF: the windower and later stages read the payload as JSON.
    if (!extractTopic) throw new Error('a PDF application needs the extraction topic: pass it to createRawProducer');
    return extractTopic;
  };
  const producer: Producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  await producer.connect();
  return {
    async send(envelopes) {
      const encoded = await Promise.all(
        envelopes.map(async (e) => {
          const topic = topicOf(e);
          return { topic, message: { key: e.submissionHash, value: await serde.encode(topic, e), headers: e.traceparent ? { traceparent: e.traceparent } : {} } };
        }),
      );
      const byTopic = new Map<TopicSpec, Array<(typeof encoded)[number]['message']>>();
      for (const { topic, message } of encoded) {
        const messages = byTopic.get(topic) ?? [];
        messages.push(message);
        byTopic.set(topic, messages);
      }
      // One request either way: a batch of JSON and PDF submissions is acknowledged together.
      await producer.sendBatch({ acks: -1, topicMessages: [...byTopic].map(([topic, messages]) => ({ topic: topic.name, messages })) });
    },
    close: () => producer.disconnect(),
  };
}
