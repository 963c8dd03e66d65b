/**
 * The one reader of partition ranges: reads [from, to) of some partitions of a topic with
 * read_committed, for restores (processors/runtime/partition-reader.ts), whole-topic reads
 * (connectors/topic-reader.ts, the import checkpoints, the replay markers) and the status view's
 * DLQ tail (cli/status/dead-letters.ts). kafkajs has no `assign()`, so it joins a throw-away
 * consumer group (deleted afterwards, so stages are never disturbed), pauses the partitions it
 * was not asked for and seeks to each range's start. It settles once: at the end of every range,
 * when `onRecords` says so, on the first error of `onRecords`, on a consumer crash kafkajs does
 * not restart from, on the timeout (PF_READ_TIMEOUT) or on the signal (PF_ABORTED).
 */
import { randomUUID } from 'node:crypto';
import type { Admin, Kafka } from 'kafkajs';
import { PermitflowError } from './errors.ts';
import { stringHeaders } from './kafka.ts';

export interface PartitionRange {
  /** First offset to read; absent: the log start. */
  from?: bigint;
  /** Offset the read ends before (a high watermark, say). */
  to: bigint;
}

export interface RangeRecord {
  partition: number;
  offset: bigint;
  timestamp: number;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, string>;
}

export interface ReadRanges {
  topic: string;
  ranges: ReadonlyMap<number, PartitionRange>;
  timeoutMs: number;
  /** What the timeout error says was not finished. */
  what: string;
  signal?: AbortSignal;
  /** Deletes the throw-away group; default: an admin of `kafka`, connected for it. */
  admin?: Pick<Admin, 'deleteGroups'>;
  /** The records of one fetched batch that lie in their partition's range, in offset order; `false` ends the read. */
  onRecords(partition: number, records: RangeRecord[]): void | boolean | Promise<void | boolean>;
}

/** Every non-empty partition from its log start to its end, from an admin's `fetchTopicOffsets`. */
export function rangesToEnd(offsets: ReadonlyArray<{ partition: number; low: string; high: string }>): Map<number, PartitionRange> {
  return new Map(offsets.filter((p) => BigInt(p.high) > BigInt(p.low)).map((p) => [p.partition, { to: BigInt(p.high) }]));
}

export async function readRanges(kafka: Kafka, options: ReadRanges): Promise<void> {
  const { topic, ranges } = options;
  const remaining = new Map([...ranges].filter(([, r]) => r.from === undefined || r.to > r.from).map(([p, r]) => [p, r.to]));
  if (remaining.size === 0) return;
  if (options.signal?.aborted) throw aborted(options);
  const groupId = `permitflow.reader.${randomUUID()}`;
  const consumer = kafka.consumer({ groupId, readUncommitted: false, maxWaitTimeInMs: 100, allowAutoTopicCreation: false });
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  try {
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      let settled = false;
      const finish = (err?: unknown): void => {
        if (settled) return;
        settled = true;
        if (err === undefined) resolve();
        else reject(err instanceof Error ? err : new Error(`${options.what} failed`, { cause: err }));
      };
      timer = setTimeout(() => finish(PermitflowError.retriable('PF_READ_TIMEOUT', `${options.what} did not finish in ${options.timeoutMs} ms`)), options.timeoutMs);
      onAbort = () => finish(aborted(options));
      options.signal?.addEventListener('abort', onAbort, { once: true });
      consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
        const others = (payload.memberAssignment[topic] ?? []).filter((p) => !remaining.has(p));
        if (others.length > 0) consumer.pause([{ topic, partitions: others }]);
        for (const [partition, range] of ranges) if (range.from !== undefined && remaining.has(partition)) consumer.seek({ topic, partition, offset: range.from.toString() });
      });
      // Progress comes from the batch-end event, which kafkajs also emits for batches holding
      // only transaction markers or aborted records (eachBatch is not called for those).
      consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
        const end = remaining.get(payload.partition);
        if (end !== undefined && BigInt(payload.lastOffset) + 1n >= end) remaining.delete(payload.partition);
        if (remaining.size === 0) finish();
      });
      // Errors of eachBatch and a failed join arrive here, not at run(): without this the cause
      // would only show as the timeout.
      consumer.on(consumer.events.CRASH, ({ payload }) => {
        if (!payload.restart) finish(payload.error);
      });
      consumer
        .run({
          eachBatch: async ({ batch }) => {
            const range = ranges.get(batch.partition);
            if (settled || !range) return;
            const records: RangeRecord[] = [];
            for (const m of batch.messages) {
              const offset = BigInt(m.offset);
              // A fetch may start before the seek applies: the range is what counts.
              if ((range.from !== undefined && offset < range.from) || offset >= range.to) continue;
              records.push({ partition: batch.partition, offset, timestamp: Number(m.timestamp), key: m.key ?? null, value: m.value ?? null, headers: stringHeaders(m.headers) });
            }
            if (records.length === 0) return;
            try {
              if ((await options.onRecords(batch.partition, records)) === false) finish();
            } catch (err) {
              finish(err);
            }
          },
        })
        .catch(finish);
    });
  } finally {
    clearTimeout(timer);
    if (onAbort) options.signal?.removeEventListener('abort', onAbort);
    await consumer.disconnect().catch(() => undefined);
    await deleteGroup(kafka, groupId, options.admin);
  }
}

function aborted(options: ReadRanges): PermitflowError {
  return PermitflowError.retriable('PF_ABORTED', `${options.what} was stopped`);
}

async function deleteGroup(kafka: Kafka, groupId: string, admin: Pick<Admin, 'deleteGroups'> | undefined): Promise<void> {
  if (admin) {
    await admin.deleteGroups([groupId]).catch(() => undefined);
    return;
  }
  const own = kafka.admin();
  await own
    .connect()
    .then(() => own.deleteGroups([groupId]))
    .catch(() => undefined);
  await own.disconnect().catch(() => undefined);
}
