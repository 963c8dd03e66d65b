/**
 * Exactly-once imports: each chunk of rows is produced in one Kafka transaction together with
 * the import's checkpoint (byte offset and line after the chunk's last row), written to the
 * file-drop connector's compacted `checkpoints` changelog. Rows and checkpoint commit or abort
 * together, so the committed checkpoint is always exactly where the committed rows end.
 *
 * The transactional id is derived from the import's identity (file content + mapping), so a
 * restarted import initialises the same id: that fences the crashed run and aborts whatever
 * it had in flight (its uncommitted rows never become visible to read_committed readers such
 * as the windower), and only then is the checkpoint read, with read_committed. The import then
 * resumes at the recorded offset: rows before it were committed once, rows after it were not.
 * No row is lost and none is produced twice, without leaning on the submission hash.
 *
 * The same fencing stops two importers of the same file racing: the later one wins and the
 * earlier one fails with PF_IMPORT_FENCED at its next commit.
 */
import { Partitioners, type Kafka, type Message, type Producer } from 'kafkajs';
import { PermitflowError } from '../../lib/errors.ts';
import type { Logger } from '../../lib/logger.ts';
import type { Topology } from '../../topology/topics.ts';
import { readRanges } from '../../lib/range-reader.ts';
import type { Encoding } from './source.ts';

export interface Counts {
  /** Data records read (header excluded). */
  read: number;
  /** Envelopes produced to the raw topic. */
  produced: number;
  /** Produced rows whose hash repeats an earlier row of the file. */
  duplicates: number;
  /** Rows sent to the DLQ. */
  bad: number;
  /** Produced rows flagged for formula-like cells. */
  flagged: number;
}

export interface Checkpoint {
  version: 1;
  importId: string;
  file: { name: string; sha256: string; size: number };
  mapping: { name: string; digest: string };
  encoding: Encoding;
  /** Byte offset and physical lines consumed: where the next record starts. */
  offset: number;
  line: number;
  /** CSV header, once read. */
  columns: string[] | null;
  counts: Counts;
  done: boolean;
  startedAt: number;
  updatedAt: number;
}

export const emptyCounts = (): Counts => ({ read: 0, produced: 0, duplicates: 0, bad: 0, flagged: 0 });

export interface ImportSession {
  /** The committed checkpoint of this import, read after fencing earlier runs. */
  readonly checkpoint: Checkpoint | null;
  /** Produces the records and the checkpoint in one transaction. */
  commit(records: { topic: string; messages: Message[] }[], checkpoint: Checkpoint): Promise<void>;
  close(): Promise<void>;
}

const partitioner = Partitioners.DefaultPartitioner();

/** The partition murmur2 gives `key` among `count`: where the checkpoint is written and read. */
export function checkpointPartition(topic: string, key: string, count: number): number {
  const partitionMetadata = Array.from({ length: count }, (_, partitionId) => ({ partitionId, leader: 0, partitionErrorCode: 0, replicas: [0], isr: [0] }));
  return partitioner({ topic, partitionMetadata, message: { key, value: null } });
}

function isFenced(err: unknown): boolean {
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    const type = (e as { type?: string }).type;
    if (type === 'INVALID_PRODUCER_EPOCH' || type === 'PRODUCER_FENCED' || (e as { code?: number }).code === 90) return true;
  }
  return false;
}

/**
 * Reads the last committed checkpoint of `importId` (read_committed, to the end of its
 * partition), and which partition that is.
 */
export async function readCheckpoint(kafka: Kafka, topic: string, importId: string, timeoutMs = 60_000): Promise<{ checkpoint: Checkpoint | null; partition: number }> {
  const admin = kafka.admin();
  await admin.connect();
  const offsets = await admin
    .fetchTopicOffsets(topic)
    .catch((err: unknown) => {
      throw PermitflowError.permanent('PF_TOPOLOGY_MISSING', `topic ${topic} is missing: run \`permitflow topology apply\``, { cause: err });
    })
    .finally(() => admin.disconnect());
  const partition = checkpointPartition(topic, importId, offsets.length);
  const end = offsets.find((o) => o.partition === partition)!;
  if (BigInt(end.high) <= BigInt(end.low)) return { checkpoint: null, partition };
  let latest: Checkpoint | null = null;
  await readRanges(kafka, {
    topic,
    ranges: new Map([[partition, { to: BigInt(end.high) }]]),
    timeoutMs,
    what: `reading checkpoints from ${topic}`,
    onRecords(_partition, records) {
      for (const m of records) {
        if (m.key?.toString() === importId && m.value) latest = JSON.parse(m.value.toString('utf8')) as Checkpoint;
      }
    },
  });
  return { checkpoint: latest, partition };
}

/** Fences earlier runs of the import, then reads its checkpoint. */
export async function openSession(kafka: Kafka, topology: Topology, importId: string, logger: Logger): Promise<ImportSession> {
  const topic = topology.changelog('file-drop', 'checkpoints');
  const transactionalId = `${topology.group('file-drop')}.${importId}`;
  const producer: Producer = kafka.producer({
    transactionalId,
    idempotent: true,
    maxInFlightRequests: 1,
    transactionTimeout: 60_000,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  await producer.connect();
  try {
    // Beginning a transaction initialises the producer id: the broker bumps the epoch, which
    // fences a previous run and completes the abort of its open transaction before answering.
    const fence = await producer.transaction();
    await fence.abort();
  } catch (err) {
    await producer.disconnect().catch(() => undefined);
    throw err;
  }
  const { checkpoint, partition } = await readCheckpoint(kafka, topic, importId).catch(async (err: unknown) => {
    await producer.disconnect().catch(() => undefined);
    throw err;
  });
  return {
    checkpoint,
    async commit(records, next) {
      const txn = await producer.transaction();
      try {
        await txn.sendBatch({
          acks: -1,
          topicMessages: [
            ...records.filter((r) => r.messages.length > 0),
            { topic, messages: [{ key: importId, value: JSON.stringify(next), partition }] },
          ],
        });
        await txn.commit();
      } catch (err) {
        if (txn.isActive()) await txn.abort().catch((abortErr: unknown) => logger.debug({ err: abortErr }, 'abort after a failed import commit failed'));
        if (isFenced(err)) {
          throw PermitflowError.permanent('PF_IMPORT_FENCED', `another importer took over ${next.file.name} (same file and mapping); this one stops`, { cause: err });
        }
        // Whether the commit landed is unknown: the caller reopens the session, which re-reads
        // the committed checkpoint and resumes from there.
        throw PermitflowError.retriable('PF_IMPORT_COMMIT_FAILED', `committing rows of ${next.file.name} failed: ${(err as Error).message}`, { cause: err });
      }
    },
    close: () => producer.disconnect(),
  };
}
