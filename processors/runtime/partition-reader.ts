/**
 * Reads one partition of a topic from an offset to its end, read_committed, for restoring a
 * processor's state on assignment. kafkajs has no `assign()`, so this joins a throw-away
 * consumer group, pauses every other partition and seeks; the group is deleted afterwards.
 */
import { randomUUID } from 'node:crypto';
import type { Kafka } from 'kafkajs';
import { PermitflowError } from '../../lib/errors.ts';
import type { RawRecord } from './types.ts';
import { stringHeaders } from '../../lib/kafka.ts';
import { withTimeout } from '../../lib/timeout.ts';

// One restore read at a time per process: concurrent readers would each hold a fetch buffer
// and their garbage at once, and a restore's peak memory is what sizes the process. A read that
// hangs (a connection lost in a broker outage, past its own timeout) holds the queue no longer
// than QUEUE_HOLD_MS, or every later restore of the process would wait behind it for ever.
let queue: Promise<unknown> = Promise.resolve();
const READ_TIMEOUT_MS = 120_000;
const QUEUE_HOLD_MS = READ_TIMEOUT_MS + 60_000;

export function readPartition(...args: Parameters<typeof readOne>): Promise<void> {
  const previous = queue;
  const run = previous.then(() => readOne(...args));
  // Timed from the start of this read, not from when it was queued.
  queue = previous.then(() => withTimeout(run, QUEUE_HOLD_MS)).catch(() => undefined);
  return run;
}

async function readOne(
  kafka: Kafka,
  topic: string,
  partition: number,
  from: bigint,
  /** Returning `false` ends the read there (a caller that only asks whether any record exists). */
  onRecord: (record: RawRecord) => void | boolean,
  options: { until?: bigint; timeoutMs?: number } = {},
): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  const groupId = `permitflow.restore.${randomUUID()}`;
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    const high = BigInt(offsets.find((o) => o.partition === partition)?.high ?? '0');
    const end = options.until !== undefined && options.until < high ? options.until : high;
    if (from >= end) return;

    const consumer = kafka.consumer({ groupId, readUncommitted: false, maxWaitTimeInMs: 100, allowAutoTopicCreation: false });
    await consumer.connect();
    try {
      await consumer.subscribe({ topic, fromBeginning: true });
      await new Promise<void>((resolve, reject) => {
        const timeoutMs = options.timeoutMs ?? READ_TIMEOUT_MS;
        const timer = setTimeout(
          () => reject(PermitflowError.retriable('PF_RESTORE_TIMEOUT', `restoring from ${topic}[${partition}] did not reach offset ${end} in ${timeoutMs} ms`)),
          timeoutMs,
        );
        consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
          const others = (payload.memberAssignment[topic] ?? []).filter((p) => p !== partition);
          if (others.length > 0) consumer.pause([{ topic, partitions: others }]);
          consumer.seek({ topic, partition, offset: from.toString() });
        });
        // Batch-end events also fire for batches of only transaction markers, which take offsets too.
        consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
          if (payload.partition === partition && BigInt(payload.lastOffset) + 1n >= end) {
            clearTimeout(timer);
            resolve();
          }
        });
        consumer
          .run({
            eachBatch: async ({ batch }) => {
              if (batch.partition !== partition) return;
              for (const m of batch.messages) {
                const offset = BigInt(m.offset);
                if (offset < from || offset >= end) continue;
                const more = onRecord({
                  offset,
                  timestamp: Number(m.timestamp),
                  key: m.key ?? null,
                  value: m.value ?? null,
                  headers: stringHeaders(m.headers),
                });
                if (more === false) {
                  clearTimeout(timer);
                  resolve();
                  return;
                }
              }
              await Promise.resolve();
            },
          })
          .catch(reject);
      });
    } finally {
      await consumer.disconnect();
    }
  } finally {
    await admin.deleteGroups([groupId]).catch(() => undefined);
    await admin.disconnect();
  }
}
