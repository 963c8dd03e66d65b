import assert from 'node:assert/strict';
import { test } from 'node:test';
import { coalescingSink } from '../../connectors/intake/envelope-sink.ts';
import type { SubmissionEnvelope } from '../../schemas/types.ts';
import { sampleEnvelope } from '../support/samples.ts';

/** A producer whose sends stay pending until the test settles them. */
function manualProducer() {
  const sends: { batch: SubmissionEnvelope[]; resolve: () => void; reject: (e: Error) => void }[] = [];
  let closed = false;
  return {
    sends,
    isClosed: () => closed,
    send: (batch: SubmissionEnvelope[]) => new Promise<void>((resolve, reject) => sends.push({ batch, resolve, reject })),
    close: () => {
      closed = true;
      return Promise.resolve();
    },
  };
}

const envelope = (i: number, inlineBytes = 10): SubmissionEnvelope => {
  const e = sampleEnvelope();
  return { ...e, submissionHash: String(i).padStart(64, '0'), payload: { ...e.payload, inline: Buffer.alloc(inlineBytes) } };
};

const settle = () => new Promise((r) => setImmediate(r));

test('an idle sink sends at once; envelopes arriving during a send go together in the next one', async () => {
  const producer = manualProducer();
  const sink = coalescingSink(producer);
  const first = sink.send(envelope(1));
  await settle();
  assert.equal(producer.sends.length, 1, 'no linger when idle');

  const later = [sink.send(envelope(2)), sink.send(envelope(3)), sink.send(envelope(4))];
  await settle();
  assert.equal(producer.sends.length, 1, 'waits for the send in flight');
  producer.sends[0]!.resolve();
  await first;
  await settle();
  assert.deepEqual(producer.sends[1]!.batch.map((e) => Number(e.submissionHash)), [2, 3, 4]);
  producer.sends[1]!.resolve();
  await Promise.all(later);
});

test('a failed send rejects exactly the envelopes of its batch', async () => {
  const producer = manualProducer();
  const sink = coalescingSink(producer);
  const a = sink.send(envelope(1));
  await settle();
  const b = sink.send(envelope(2));
  producer.sends[0]!.reject(new Error('broker down'));
  await assert.rejects(a, /broker down/);
  await settle();
  producer.sends[1]!.resolve();
  await b;
});

test('batches stay under the byte bound (Kafka refuses oversized record batches) and the count bound', async () => {
  const producer = manualProducer();
  const sink = coalescingSink(producer, { maxBatch: 3, maxBatchBytes: 100_000 });
  const all = [sink.send(envelope(0))];
  await settle();
  for (let i = 1; i <= 5; i++) all.push(sink.send(envelope(i, 40_000)));
  producer.sends[0]!.resolve();
  for (let n = 1; n < 10 && all.length > 0; n++) {
    await settle();
    producer.sends.at(-1)?.resolve();
  }
  await Promise.all(all);
  assert.deepEqual(producer.sends.map((s) => s.batch.length), [1, 2, 2, 1]);
});

test('close sends what is queued before closing the producer', async () => {
  const producer = manualProducer();
  const sink = coalescingSink(producer);
  const sent = sink.send(envelope(1));
  const closing = sink.close();
  await settle();
  assert.equal(producer.isClosed(), false);
  producer.sends[0]!.resolve();
  await Promise.all([sent, closing]);
  assert.equal(producer.isClosed(), true);
});
