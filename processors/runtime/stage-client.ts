/**
 * The seam between the runtime and its Kafka client (KAFKA_CLIENT): a stage's consumer and
 * transactional producers, on kafkajs or on @confluentinc/kafka-javascript (librdkafka).
 *
 * kafkajs: pre-KIP-447 transactions, so one transactional producer per input partition fences
 * zombies by partition (producers.ts); its GROUP_JOIN event reports the assignment; its
 * consumer is started again after crashes it would not restart itself.
 *
 * confluent: KIP-447. One transactional producer per stage instance; offsets go into the
 * transaction with the consumer's group metadata, so the broker fences a zombie by its group
 * generation. The rebalance callback is awaited: on revoke it waits for the batches in hand of
 * the revoked partitions, whose transactions commit (or abort) before the partitions move.
 * Fetched batches are large (`js.consumer.max.batch.size`); the runtime splits them into
 * transactions of `maxRecordsPerTransaction` and concurrent partitions share one transaction.
 */
import type { KafkaJS as ConfluentKafkaJS } from '@confluentinc/kafka-javascript';
import type { Consumer, EachBatchPayload, Kafka } from 'kafkajs';
import { confluentKafka, runtimeClient, type RuntimeClient } from '../../lib/kafka.ts';
import type { Logger } from '../../lib/logger.ts';
import { createStageConsumer, heartbeatIntervalMs, restartAfterCrash, type StageConsumerOptions } from '../../lib/stage-consumer.ts';
import { readPartition } from './partition-reader.ts';
import { createPartitionProducers, createStageTransactions, type PartitionProducers } from './producers.ts';

export interface RuntimeConsumerHooks {
  logger: Logger;
  /** Aborted when the stage stops. */
  signal: AbortSignal;
  /** The stage cannot go on (a programmer error, a crash it cannot recover from). */
  fail: (err: unknown) => void;
  /** The partitions this instance owns now, per topic (after every rebalance). */
  assigned: (assignment: Record<string, number[]>) => void;
  /** Partitions about to move: resolves once their batches in hand have committed or failed. */
  revoking: (partitions: { topic: string; partition: number }[]) => Promise<void>;
}

export interface RuntimeConsumer {
  readonly client: RuntimeClient;
  /** Connects, subscribes and runs `eachBatch` (offsets are resolved by the runtime). */
  start(topics: string[], run: { autoCommit: boolean; partitionsConcurrently: number; eachBatch: (payload: EachBatchPayload) => Promise<void> }): Promise<void>;
  /** Committed offsets of the group for one partition number of each topic (stable: no pending transactional commit). */
  committed(groupId: string, topics: string[], partition: number): Promise<Map<string, bigint>>;
  seek(position: { topic: string; partition: number; offset: string }): void;
  pause(topics: { topic: string; partitions?: number[] }[]): void;
  resume(topics: { topic: string; partitions?: number[] }[]): void;
  /** Lets the batches in hand finish, leaves the group and disconnects. */
  stop(): Promise<void>;
  /** The transactional producers that go with this consumer. */
  producers(options: { groupId: string; processor: string; workerId: string; transactions: boolean }): PartitionProducers;
  /** No batch of the partition is in hand, and none came for `forMs`. */
  idle(topic: string, partition: number, forMs: number): boolean;
}

/** Batches in hand and when the last one ended, per topic-partition: what `idle` reads. */
function batchActivity(): {
  track: (run: (payload: EachBatchPayload) => Promise<void>) => (payload: EachBatchPayload) => Promise<void>;
  idle: (topic: string, partition: number, forMs: number) => boolean;
} {
  const inHand = new Set<string>();
  const lastEnded = new Map<string, number>();
  return {
    track: (run) => async (payload) => {
      const key = `${payload.batch.topic}:${payload.batch.partition}`;
      inHand.add(key);
      try {
        await run(payload);
      } finally {
        inHand.delete(key);
        lastEnded.set(key, Date.now());
      }
    },
    idle: (topic, partition, forMs) => {
      const key = `${topic}:${partition}`;
      // A partition seen for the first time (just assigned) is idle from now, not since ever.
      if (!lastEnded.has(key)) lastEnded.set(key, Date.now());
      return !inHand.has(key) && Date.now() - lastEnded.get(key)! >= forMs;
    },
  };
}

/**
 * Where an idle partition's committed offset may move, if only transaction markers (and
 * aborted records) lie between `from` and the partition's end: a transactional producer's
 * last commit marker trails its records, no batch ever carries it alone, and lag would read 1
 * per partition at rest. Read read_committed: a committed record found there means work is
 * pending (a retry not yet due, a batch being retried), and nothing moves. Undefined: nothing to do.
 */
export async function pastTrailingMarkers(kafka: Kafka, topic: string, partition: number, from: bigint): Promise<bigint | undefined> {
  const admin = kafka.admin();
  await admin.connect();
  let end: bigint;
  try {
    end = BigInt((await admin.fetchTopicOffsets(topic)).find((o) => o.partition === partition)?.high ?? '0');
  } finally {
    await admin.disconnect();
  }
  if (from >= end) return undefined;
  let found = false;
  // The first record found ends the read: a backlog is not read through.
  await readPartition(kafka, topic, partition, from, () => {
    found = true;
    return false;
  }, { until: end, timeoutMs: TRAILING_READ_TIMEOUT_MS });
  return found ? undefined : end;
}

/** A range of markers reads in well under this; an open transaction there (it blocks read_committed) waits for the next sweep. */
const TRAILING_READ_TIMEOUT_MS = 15_000;

export interface RuntimeConsumerOptions extends StageConsumerOptions {
  /** Records per transaction: a confluent batch is fetched this large at most (the runtime splits larger ones). */
  maxRecordsPerTransaction: number;
  /** Commits offsets itself (the control run without transactions). */
  autoCommit: boolean;
}

const REBALANCE_ERRORS = new Set(['REBALANCE_IN_PROGRESS', 'ILLEGAL_GENERATION', 'UNKNOWN_MEMBER_ID', 'NOT_COORDINATOR', 'FENCED_INSTANCE_ID']);

/** A broker answer that means the group moved on: commits stay as they were; the consumer must rejoin. */
export function isRebalanceError(err: unknown): boolean {
  const type = typeof err === 'object' && err !== null ? (err as { type?: unknown }).type : undefined;
  // kafkajs names the broker's code (REBALANCE_IN_PROGRESS), librdkafka prefixes it (ERR_REBALANCE_IN_PROGRESS).
  return typeof type === 'string' && REBALANCE_ERRORS.has(type.replace(/^ERR_/, ''));
}

export function createRuntimeConsumer(kafka: Kafka, groupId: string, options: RuntimeConsumerOptions, hooks: RuntimeConsumerHooks): RuntimeConsumer {
  return runtimeClient(kafka) === 'confluent' ? confluentConsumer(kafka, groupId, options, hooks) : kafkajsConsumer(kafka, groupId, options, hooks);
}

function kafkajsConsumer(kafka: Kafka, groupId: string, options: RuntimeConsumerOptions, hooks: RuntimeConsumerHooks): RuntimeConsumer {
  const consumer: Consumer = createStageConsumer(kafka, groupId, options);
  consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => hooks.assigned(payload.memberAssignment));
  let admin: ReturnType<Kafka['admin']> | undefined;
  let startConsumer: (() => Promise<void>) | undefined;
  const activity = batchActivity();
  restartAfterCrash(consumer, { logger: hooks.logger, signal: hooks.signal, fail: hooks.fail, start: () => startConsumer?.() ?? Promise.resolve() });
  return {
    client: 'kafkajs',
    async start(topics, run) {
      startConsumer = async () => {
        await consumer.connect();
        for (const topic of topics) await consumer.subscribe({ topic, fromBeginning: true });
        await consumer.run({
          autoCommit: run.autoCommit,
          autoCommitInterval: 5_000,
          eachBatchAutoResolve: false,
          partitionsConsumedConcurrently: run.partitionsConcurrently,
          eachBatch: activity.track(run.eachBatch),
        });
      };
      await startConsumer();
    },
    async committed(group, topics, partition) {
      admin ??= kafka.admin();
      await admin.connect();
      return offsetsOf(await admin.fetchOffsets({ groupId: group, topics }), topics, partition);
    },
    seek: (position) => consumer.seek(position),
    pause: (topics) => consumer.pause(topics),
    resume: (topics) => consumer.resume(topics),
    async stop() {
      // stop() lets the batch in hand finish (and commit); disconnect() leaves the group.
      await consumer.stop().catch(() => undefined);
      await consumer.disconnect().catch(() => undefined);
      await admin?.disconnect().catch(() => undefined);
    },
    producers: ({ groupId: group, processor, transactions }) => createPartitionProducers({ kafka, groupId: group, processor, logger: hooks.logger, transactions }),
    idle: activity.idle,
  };
}

function offsetsOf(fetched: { topic: string; partitions: { partition: number; offset: string }[] }[], topics: string[], partition: number): Map<string, bigint> {
  const offsets = new Map<string, bigint>();
  for (const topic of topics) {
    const committed = BigInt(fetched.find((f) => f.topic === topic)?.partitions.find((p) => p.partition === partition)?.offset ?? '-1');
    offsets.set(topic, committed >= 0n ? committed : 0n);
  }
  return offsets;
}

function confluentConsumer(kafka: Kafka, groupId: string, options: RuntimeConsumerOptions, hooks: RuntimeConsumerHooks): RuntimeConsumer {
  const client = confluentKafka(kafka);
  const { logger } = hooks;
  const activity = batchActivity();
  // Where the runtime goes on in each partition: the committed offset it read, the offset after
  // the last one it resolved, or where it seeked. librdkafka counts the records the client fetched
  // ahead into its own cache as consumed; pausing drops that cache and sets librdkafka's next fetch
  // past them. The client seeks back only partitions whose last resolved offset it knows, and any
  // seek makes it forget that offset: a partition seeked earlier (a retry topic held until due, a
  // failed batch) whose records were fetched but not yet handed over when the input paused lost
  // them (the enricher's breaker case: its last records were never enriched). So resume seeks every
  // resumed partition here; a position at or below the runtime's only re-reads what it skips.
  const positions = new Map<string, string>();
  const positionKey = (topic: string, partition: number): string => `${topic}:${partition}`;
  const consumer: ConfluentKafkaJS.Consumer = client.consumer({
    kafkaJS: {
      groupId,
      fromBeginning: true,
      autoCommit: options.autoCommit,
      ...(options.autoCommit && { autoCommitInterval: 5_000 }),
      readUncommitted: false,
      sessionTimeout: options.sessionTimeoutMs,
      heartbeatInterval: heartbeatIntervalMs(options.sessionTimeoutMs),
      maxBytesPerPartition: options.maxBytesPerPartition,
      allowAutoTopicCreation: false,
    },
    // Large batches: librdkafka fetches ahead, and one transaction carries up to
    // maxRecordsPerTransaction records (a single awaited send per record is what is slow).
    'js.consumer.max.batch.size': options.maxRecordsPerTransaction,
    'max.poll.interval.ms': 300_000,
    // Awaited by the client before the assignment changes (see the header comment).
    rebalance_cb: async (err: { code: number }, assignment: { topic: string; partition: number }[]) => {
      if (err.code === REVOKE_PARTITIONS) {
        logger.info({ partitions: assignment.length }, 'partitions revoked: finishing their transactions');
        await hooks.revoking(assignment);
      } else if (err.code === ASSIGN_PARTITIONS) {
        const byTopic: Record<string, number[]> = {};
        for (const { topic, partition } of assignment) (byTopic[topic] ??= []).push(partition);
        hooks.assigned(byTopic);
      }
    },
  });

  return {
    client: 'confluent',
    async start(topics, run) {
      await consumer.connect();
      await consumer.subscribe({ topics });
      await consumer.run({
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: run.partitionsConcurrently,
        eachBatch: activity.track((payload) => {
          const { topic, partition } = payload.batch;
          const key = positionKey(topic, partition);
          // Until the runtime resolves some of it, the batch's first record is where it goes on.
          if (payload.batch.messages.length > 0) positions.set(key, payload.batch.firstOffset()!);
          const resolveOffset = payload.resolveOffset.bind(payload);
          return run.eachBatch({
            ...payload,
            resolveOffset: (offset: string) => {
              positions.set(key, (BigInt(offset) + 1n).toString());
              resolveOffset(offset);
            },
          });
        }) as unknown as ConfluentKafkaJS.EachBatchHandler,
      });
    },
    async committed(_group, topics, partition) {
      // librdkafka asks for stable offsets under read_committed (KIP-447): a transaction still
      // committing offsets for the partition is waited for, not read past.
      const fetched = await consumer.committed(topics.map((topic) => ({ topic, partition })), 30_000);
      const offsets = offsetsOf(
        topics.map((topic) => ({ topic, partitions: fetched.filter((f) => f.topic === topic).map((f) => ({ partition: f.partition, offset: f.offset })) })),
        topics,
        partition,
      );
      // The runtime reads these when it (re)starts a partition: it goes on from there.
      for (const [topic, offset] of offsets) positions.set(positionKey(topic, partition), offset.toString());
      return offsets;
    },
    seek: (position) => {
      positions.set(positionKey(position.topic, position.partition), position.offset);
      consumer.seek(position);
    },
    pause: (topics) => consumer.pause(topics),
    resume: (topics) => {
      consumer.resume(topics);
      // Owned partitions only: a seek of another is kept by the client for a later assignment.
      for (const { topic, partition } of consumer.assignment()) {
        if (!topics.some((t) => t.topic === topic && (t.partitions?.includes(partition) ?? true))) continue;
        const offset = positions.get(positionKey(topic, partition));
        if (offset !== undefined) consumer.seek({ topic, partition, offset });
      }
    },
    async stop() {
      // Waits for the batches in hand (the workers finish them), then leaves the group.
      await consumer.disconnect().catch((err: unknown) => logger.warn({ err }, 'consumer disconnect failed'));
    },
    producers: ({ groupId: group, processor, workerId, transactions }) =>
      createStageTransactions({ kafka: client, consumer, transactionalId: `${group}.${workerId}`, processor, logger, transactions }),
    idle: activity.idle,
  };
}

/** librdkafka's rebalance event codes (RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS, __REVOKE_PARTITIONS). */
const ASSIGN_PARTITIONS = -175;
const REVOKE_PARTITIONS = -174;
