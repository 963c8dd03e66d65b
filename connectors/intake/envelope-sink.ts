/**
 * Coalesces concurrent submissions into one produce request. The raw-topic producer is
 * idempotent with one request in flight, so sending each envelope on its own would serialise
 * every request behind the previous round trip. Here, an envelope sent while the producer is
 * idle goes at once (no linger at low load); envelopes arriving during a send wait for it and
 * then go together. Each caller's promise settles with its own batch's `acks=all` result.
 */
import type { RawProducer } from '../raw-topic.ts';
import type { SubmissionEnvelope } from '../../schemas/types.ts';

export interface EnvelopeSink {
  /** Resolves once the envelope is on the raw topic with acks=all. */
  send(envelope: SubmissionEnvelope): Promise<void>;
  /** Sends what is queued, then closes the producer. */
  close(): Promise<void>;
}

interface Pending {
  envelope: SubmissionEnvelope;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/** Kafka refuses a record batch over message.max.bytes (1 MiB by default): stay well under it. */
const DEFAULT_MAX_BATCH_BYTES = 512 * 1024;
const ENVELOPE_OVERHEAD_BYTES = 512;

const sizeOf = (e: SubmissionEnvelope) => (e.payload.inline?.length ?? 0) + e.attachments.length * 256 + ENVELOPE_OVERHEAD_BYTES;

export function coalescingSink(producer: Pick<RawProducer, 'send' | 'close'>, options: { maxBatch?: number; maxBatchBytes?: number } = {}): EnvelopeSink {
  const maxBatch = options.maxBatch ?? 500;
  const maxBytes = options.maxBatchBytes ?? DEFAULT_MAX_BATCH_BYTES;
  const queue: Pending[] = [];
  let draining: Promise<void> | undefined;

  function takeBatch(): Pending[] {
    let bytes = 0;
    let n = 0;
    while (n < queue.length && n < maxBatch) {
      bytes += sizeOf(queue[n]!.envelope);
      if (n > 0 && bytes > maxBytes) break;
      n++;
    }
    return queue.splice(0, n);
  }

  async function drain(): Promise<void> {
    while (queue.length > 0) {
      const batch = takeBatch();
      try {
        await producer.send(batch.map((p) => p.envelope));
        for (const p of batch) p.resolve();
      } catch (err) {
        for (const p of batch) p.reject(err);
      }
    }
    draining = undefined;
  }

  return {
    send(envelope) {
      return new Promise<void>((resolve, reject) => {
        queue.push({ envelope, resolve, reject });
        draining ??= drain();
      });
    },
    async close() {
      await draining;
      await producer.close();
    },
  };
}
