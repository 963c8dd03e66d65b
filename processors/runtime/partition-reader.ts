/**
 * Reads one partition of a topic from an offset to its end (or `until`), read_committed, for
 * restoring a processor's state on assignment, through the one range reader (lib/range-reader.ts),
 * one read at a time per process.
 */
import type { Kafka } from 'kafkajs';
import { readRanges } from '../../lib/range-reader.ts';
import type { RawRecord } from './types.ts';
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
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    const high = BigInt(offsets.find((o) => o.partition === partition)?.high ?? '0');
    const end = options.until !== undefined && options.until < high ? options.until : high;
    await readRanges(kafka, {
      topic,
      ranges: new Map([[partition, { from, to: end }]]),
      timeoutMs: options.timeoutMs ?? READ_TIMEOUT_MS,
      what: `restoring from ${topic}[${partition}] up to offset ${end}`,
      admin,
      onRecords(_partition, records) {
        for (const record of records) if (onRecord(record) === false) return false;
        return true;
      },
    });
  } finally {
    await admin.disconnect();
  }
}
