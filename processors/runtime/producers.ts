/**
 * kafkajs (createPartitionProducers): one transactional producer per input partition, with a
 * transactional id derived from the consumer group, topic and partition. The confluent client
 * (createStageTransactions, at the end): one per stage instance, KIP-447.
 *
 * kafkajs commits offsets inside transactions with the pre-KIP-447 protocol (no consumer group
 * metadata), so a stable per-partition transactional id is what fences a zombie: whoever owns
 * partition p next initialises the same id, which bumps the epoch, aborts the zombie's open
 * transaction and makes its later commits fail.
 *
 * kafkajs traps handled here (its issues #1355, #1416, #469, #1665, #1088, #1005, #598): a
 * producer whose commit or abort failed is stuck, and a timed-out request may still have landed,
 * so after either the producer is thrown away and rebuilt with the same id; one request in
 * flight keeps the idempotent sequence safe.
 */
import type { KafkaJS as ConfluentKafkaJS } from '@confluentinc/kafka-javascript';
import { Partitioners, type Kafka, type Message, type Producer } from 'kafkajs';
import type { Logger } from '../../lib/logger.ts';
import { runtimeMetrics } from './metrics.ts';

export interface ProducedRecord {
  topic: string;
  partition: number;
  key: string;
  value: Buffer | null;
  headers?: Record<string, string>;
  /** A decision (accepted/rejected) and when its submission was received: observed once committed. */
  decision?: { outcome: string; receivedAt: number };
}

export interface CommitOffsets {
  topic: string;
  partition: number;
  /** Next offset to consume. */
  offset: bigint;
}

export interface PartitionProducers {
  /** Fences any previous owner of the partition (initialises its transactional id). */
  fence(topic: string, partition: number): Promise<void>;
  /** Produces the records and commits the input offset in one transaction (or plainly, without transactions). */
  commit(topic: string, partition: number, records: ProducedRecord[], offsets: CommitOffsets | null): Promise<void>;
  /** Drops a partition's producer (revoked). */
  release(topic: string, partition: number): Promise<void>;
  close(): Promise<void>;
}

export interface ProducerOptions {
  kafka: Kafka;
  groupId: string;
  processor: string;
  logger: Logger;
  transactions: boolean;
}

/**
 * Bytes per produce request within a transaction. A transaction may carry more than the
 * broker's max message size (1 MB by default) in total, but one request's record batch for a
 * partition may not, so the records are sent in slices under this budget.
 */
const MAX_REQUEST_BYTES = 512 * 1024;

function* slicesBySize(records: ProducedRecord[]): Generator<ProducedRecord[]> {
  let slice: ProducedRecord[] = [];
  let bytes = 0;
  for (const r of records) {
    const size = r.key.length + (r.value?.length ?? 0) + 64;
    if (slice.length > 0 && bytes + size > MAX_REQUEST_BYTES) {
      yield slice;
      slice = [];
      bytes = 0;
    }
    slice.push(r);
    bytes += size;
  }
  if (slice.length > 0) yield slice;
}

function toTopicMessages(records: ProducedRecord[]): { topic: string; messages: Message[] }[] {
  const byTopic = new Map<string, Message[]>();
  for (const r of records) {
    const messages = byTopic.get(r.topic) ?? [];
    messages.push({ key: r.key, value: r.value, partition: r.partition, headers: r.headers });
    byTopic.set(r.topic, messages);
  }
  return [...byTopic].map(([topic, messages]) => ({ topic, messages }));
}

export function createPartitionProducers(options: ProducerOptions): PartitionProducers {
  const { kafka, groupId, processor, logger, transactions } = options;
  const producers = new Map<string, Promise<Producer>>();
  const id = (topic: string, partition: number) => `${groupId}.${topic}.${partition}`;

  function producerFor(topic: string, partition: number): Promise<Producer> {
    const transactionalId = id(topic, partition);
    let producer = producers.get(transactionalId);
    if (!producer) {
      const created = kafka.producer({
        ...(transactions && { transactionalId }),
        idempotent: true,
        maxInFlightRequests: 1,
        transactionTimeout: 60_000,
        createPartitioner: Partitioners.DefaultPartitioner,
      });
      producer = created.connect().then(() => created);
      producer.catch(() => producers.delete(transactionalId));
      producers.set(transactionalId, producer);
    }
    return producer;
  }

  async function rebuild(topic: string, partition: number, reason: unknown): Promise<void> {
    const transactionalId = id(topic, partition);
    const old = producers.get(transactionalId);
    producers.delete(transactionalId);
    runtimeMetrics.producerRebuilds.inc({ processor });
    logger.warn({ transactionalId, err: reason }, 'rebuilding transactional producer');
    if (old) await old.then((p) => p.disconnect()).catch(() => undefined);
  }

  return {
    async fence(topic, partition) {
      if (!transactions) return;
      const producer = await producerFor(topic, partition);
      // Beginning a transaction initialises the producer id, which fences the previous owner
      // and resolves its pending transaction; the empty transaction is then dropped.
      const txn = await producer.transaction();
      await txn.abort();
    },

    async commit(topic, partition, records, offsets) {
      const producer = await producerFor(topic, partition);
      if (!transactions) {
        for (const slice of slicesBySize(records)) await producer.sendBatch({ acks: -1, topicMessages: toTopicMessages(slice) });
        return;
      }
      const txn = await producer.transaction();
      try {
        for (const slice of slicesBySize(records)) await txn.sendBatch({ acks: -1, topicMessages: toTopicMessages(slice) });
        if (offsets) {
          await txn.sendOffsets({
            consumerGroupId: groupId,
            topics: [{ topic: offsets.topic, partitions: [{ partition: offsets.partition, offset: offsets.offset.toString() }] }],
          });
        }
        await txn.commit();
        runtimeMetrics.transactions.inc({ processor, outcome: 'commit' });
      } catch (err) {
        runtimeMetrics.transactions.inc({ processor, outcome: 'abort' });
        if (txn.isActive()) await txn.abort().catch((abortErr: unknown) => logger.warn({ err: abortErr }, 'abort failed'));
        // Whatever failed (send, commit, abort, a timeout that may have landed), the producer's
        // state is now unknown: start again from a fresh one with the same transactional id.
        await rebuild(topic, partition, err);
        throw err;
      }
    },

    async release(topic, partition) {
      const transactionalId = id(topic, partition);
      const producer = producers.get(transactionalId);
      producers.delete(transactionalId);
      if (producer) await producer.then((p) => p.disconnect()).catch(() => undefined);
    },

    async close() {
      const all = [...producers.values()];
      producers.clear();
      await Promise.all(all.map((p) => p.then((x) => x.disconnect()).catch(() => undefined)));
    },
  };
}

const STAGE_TRANSACTION_TIMEOUT_MS = 10_000;

export interface StageTransactionOptions {
  kafka: ConfluentKafkaJS.Kafka;
  /** The stage's consumer: its group metadata (generation) goes into each transaction. */
  consumer: ConfluentKafkaJS.Consumer;
  /** One per stage instance (KIP-447 fences by generation, not by transactional id). */
  transactionalId: string;
  processor: string;
  logger: Logger;
  transactions: boolean;
}

interface PendingCommit {
  records: ProducedRecord[];
  offsets: CommitOffsets | null;
  settle: { resolve: () => void; reject: (err: unknown) => void };
}

/**
 * The KIP-447 producer of a stage instance (@confluentinc/kafka-javascript): one transactional
 * producer for all its partitions. A producer runs one transaction at a time, so the commits
 * of concurrently processed partitions that arrive while one transaction is open are carried
 * together by the next (a group commit): each caller's records and offsets commit atomically,
 * and a failed transaction fails every caller in it, each of which retries its batch.
 * After a failed transaction the producer is rebuilt (its state is unknown after a failed
 * commit or abort; a new one re-initialises the transactional id and aborts what is left).
 */
export function createStageTransactions(options: StageTransactionOptions): PartitionProducers {
  const { kafka, consumer, transactionalId, processor, logger, transactions } = options;
  let producer: Promise<ConfluentKafkaJS.Producer> | undefined;
  let queue: PendingCommit[] = [];
  let flushing: Promise<void> | undefined;

  function current(): Promise<ConfluentKafkaJS.Producer> {
    if (!producer) {
      // The instance's id dies with it (a restarted process has another): nobody fences its open
      // transaction, which blocks read_committed readers until the broker aborts it. Kafka
      // Streams' exactly-once timeout (10 s) bounds that stall; our transactions take far less.
      const created = kafka.producer({
        kafkaJS: { ...(transactions && { transactionalId }), idempotent: true, maxInFlightRequests: 5, transactionTimeout: STAGE_TRANSACTION_TIMEOUT_MS, acks: -1 },
        'linger.ms': 2,
      });
      const connecting = created.connect().then(() => created);
      connecting.catch(() => (producer = undefined));
      producer = connecting;
    }
    return producer;
  }

  async function rebuild(reason: unknown): Promise<void> {
    const old = producer;
    producer = undefined;
    runtimeMetrics.producerRebuilds.inc({ processor });
    logger.warn({ transactionalId, err: reason }, 'rebuilding transactional producer');
    if (old) await old.then((p) => p.disconnect()).catch(() => undefined);
  }

  function toSend(records: ProducedRecord[]): { topicMessages: { topic: string; messages: ConfluentKafkaJS.Message[] }[] } {
    return { topicMessages: toTopicMessages(records) };
  }

  async function runTransaction(batch: PendingCommit[]): Promise<void> {
    const p = await current();
    const records = batch.flatMap((c) => c.records);
    const offsets = batch.flatMap((c) => (c.offsets ? [c.offsets] : []));
    await p.transaction();
    try {
      if (records.length > 0) await p.sendBatch(toSend(records));
      if (offsets.length > 0) {
        const byTopic = new Map<string, { partition: number; offset: string }[]>();
        for (const o of offsets) byTopic.set(o.topic, [...(byTopic.get(o.topic) ?? []), { partition: o.partition, offset: o.offset.toString() }]);
        await p.sendOffsets({ consumer, topics: [...byTopic].map(([topic, partitions]) => ({ topic, partitions })) });
      }
      await p.commit();
      runtimeMetrics.transactions.inc({ processor, outcome: 'commit' });
    } catch (err) {
      runtimeMetrics.transactions.inc({ processor, outcome: 'abort' });
      if (p.isActive()) await p.abort().catch((abortErr: unknown) => logger.warn({ err: abortErr }, 'abort failed'));
      await rebuild(err);
      throw err;
    }
  }

  async function flush(): Promise<void> {
    while (queue.length > 0) {
      const batch = queue;
      queue = [];
      try {
        await runTransaction(batch);
        for (const c of batch) c.settle.resolve();
      } catch (err) {
        for (const c of batch) c.settle.reject(err);
      }
    }
  }

  return {
    // KIP-447: the producer is initialised once; the group generation in each transaction fences zombies.
    fence: () => (transactions ? current().then(() => undefined) : Promise.resolve()),

    async commit(_topic, _partition, records, offsets) {
      if (!transactions) {
        const p = await current();
        if (records.length > 0) await p.sendBatch(toSend(records));
        return;
      }
      const done = new Promise<void>((resolve, reject) => queue.push({ records, offsets, settle: { resolve, reject } }));
      flushing ??= flush().finally(() => (flushing = undefined));
      await done;
    },

    release: () => Promise.resolve(),

    async close() {
      await flushing?.catch(() => undefined);
      const p = producer;
      producer = undefined;
      await p?.then((x) => x.disconnect()).catch(() => undefined);
    },
  };
}
