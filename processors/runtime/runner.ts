/**
 * The shared consume-transform-produce runtime: every processor runs on it, so delivery
 * semantics live in one place.
 *
 * Per fetched batch of one input partition: decode each record, hand it to the processor,
 * encode its outputs, then produce them and commit the input offset in one Kafka transaction
 * (read_committed consumer, one transactional producer per input partition). Every batch ends
 * fully committed, so a rebalance can take a partition at any moment without a flush.
 *
 * On assignment a partition is fenced (its transactional id initialised, which aborts a
 * zombie's open transaction), its committed offset is read afresh (kafkajs may have read it
 * before the fence), and the processor restores its state. Records below that offset are
 * skipped. After an aborted transaction the processor's state for the partition is dropped and
 * restored again, and the consumer seeks back to the last committed offset.
 *
 * Restores of one partition never overlap: a processor's restore writes its in-memory state in
 * several steps, so a second restore running beside a failing first one (a broker outage makes
 * both the batch and the timer path fail) could leave the state of neither, e.g. a windower with
 * no open window while its changelog has one, which then never closes. A failure seen while a
 * restore runs starts none; a new one waits for the last to settle, and a revoked partition's
 * late restore is undone. A batch or timer that fails starts the restore before it lets the next
 * one of its partition run, and each waits for the restore current when its turn comes: a job
 * queued behind a failed one never runs on what that one left uncommitted in memory.
 *
 * Records that do not decode, or whose handler throws a permanent error, go to the DLQ inside
 * the same transaction; retriable errors retry the batch with backoff; programmer errors stop
 * the processor (the supervisor restarts it), they are never retried.
 *
 * Attempt budget: infrastructure errors (lib/errors.ts) are retried for as long as they last,
 * but a batch that fails `recordAttempts` times with an error nobody classified, or whose
 * outputs Kafka refuses (a record over the max message size), is isolated: its records go one
 * per transaction, so the others commit exactly once, and the record that fails, retried in
 * place within its own budget (its state restored each time), is dead-lettered with its error
 * chain. An output over the broker's max message size is refused before it is produced.
 */
import type { EachBatchPayload, Kafka, KafkaMessage } from 'kafkajs';
import { isSubmissionHash } from '../../domain/hashing.ts';
import { classify, errorChain, isInfrastructureError, PermitflowError, retryBudgeted } from '../../lib/errors.ts';
import { stringHeaders } from '../../lib/kafka.ts';
import { withTimeout } from '../../lib/timeout.ts';
import type { Logger } from '../../lib/logger.ts';
import { continueOrStart, inSpan, MESSAGING, SpanKind, traceIdOf, tracingEnabled } from '../../lib/observability/tracing.ts';
import type { Serde } from '../../schemas/serde.ts';
import type { StateHeader } from '../../schemas/types.ts';
import { PROCESSORS } from '../../topology/topics.ts';
import { batchRetryDelay, retryPause } from '../../lib/backoff.ts';
import { deadLetter } from '../../lib/dead-letter.ts';
import { assertDeployed } from '../../lib/deployment.ts';
import { declaredStore, outputGuard, UndeclaredOutputError } from './contract.ts';
import { mapBounded } from '../../lib/map-bounded.ts';
import { runtimeMetrics } from './metrics.ts';
import { readPartition } from './partition-reader.ts';
import { retryRouter } from './retry.ts';
import { processorStores, type StoreSpecs, type StoreWrite } from './stores.ts';
import { heartbeatIntervalMs } from '../../lib/stage-consumer.ts';
import { whileHeartbeating } from './heartbeat.ts';
import type { ProducedRecord } from './producers.ts';
import { createRuntimeConsumer, isRebalanceError as isRebalance, pastTrailingMarkers } from './stage-client.ts';
import {
  isCommitCondition,
  type ProcessorOutput,
  type InputRecord,
  type Output,
  type PartitionContext,
  type ProcessorDefinition,
  type RecordContext,
  type RuntimeOptions,
} from './types.ts';

export interface RunningProcessor {
  /** Resolves when the consumer has joined its group and started. */
  started: Promise<void>;
  /** Resolves when the processor has stopped; rejects on a fatal error. */
  done: Promise<void>;
  /** Graceful stop: finish the batch in hand, commit, leave the group. */
  stop(): Promise<void>;
  /** Pauses every assigned input partition until `until` settles (backpressure, open breakers). */
  pauseUntil(until: Promise<unknown>): void;
}

interface PartitionState {
  /** Fence, fresh committed offsets and restored processor state; awaited before each batch. */
  ready: Promise<void>;
  /** A restore is running: failures seen meanwhile are its to repair, not a reason for another. */
  restoring: boolean;
  /** Next offset to process per input topic. */
  nextOffsets: Map<string, bigint>;
  /** Serialises batches and timers of one partition. */
  lock: Promise<void>;
  failures: number;
  /** The record the partition's retries are stuck on, and what they were told. */
  failing?: Failing;
  /** Records up to this offset of the topic go one per transaction (their batch kept failing). */
  isolate?: { topic: string; through: bigint };
}

interface Failing {
  topic: string;
  /** The first record not yet committed when it failed (in isolation: the failing record). */
  offset: bigint;
  attempts: number;
  firstFailureAt: number;
  /** Distinct error chains of the attempts, oldest first, at most MAX_PRIOR_ERRORS. */
  errors: string[];
}

/** Failed attempts of a record (or of the batch it starts) before it is isolated and dead-lettered. */
export const DEFAULT_RECORD_ATTEMPTS = 5;

/**
 * Largest output record (key, value and headers). Kafka's default message.max.bytes is
 * 1,048,588 per record batch, overhead included: an output over this is refused here, with a
 * clear cause, instead of failing the transaction on every retry.
 */
export const MAX_RECORD_BYTES = 1_000_000;

const MAX_PRIOR_ERRORS = 5;

/** A partition without a batch for this long is idle: its trailing transaction markers get committed. */
const IDLE_SWEEP_MS = 5_000;

/** Longest a partition's restore may take: fence, offsets and the processor's state (bounded reads of its changelogs). */
const RESTORE_DEADLINE_MS = 300_000;

/** Decisions: end-to-end latency is measured from the intake to these. */
const TERMINAL_STATES = new Set<string>(['accepted', 'rejected']);

function observeDecisions(produced: ProducedRecord[]): void {
  const now = Date.now();
  for (const r of produced) if (r.decision) runtimeMetrics.endToEnd.observe({ outcome: r.decision.outcome }, Math.max(0, now - r.decision.receivedAt) / 1000);
}

/** The batch a decoded state record belongs to (from chunked on), if any. */
/** A handler's store write, bound for the store's changelog partition: the runtime's own output kind. */
interface StoreRecord extends StoreWrite {
  partition: number;
}
type RuntimeOutput = ProcessorOutput | StoreRecord;
const isStoreRecord = (o: Output | StoreRecord): o is StoreRecord => 'store' in o;

/** A handler's outputs and then its store writes (most handlers write none: no copy then). */
function withStoreWrites(outputs: ProcessorOutput[], writes: readonly StoreWrite[], partition: number): RuntimeOutput[] {
  if (writes.length === 0) return outputs;
  return [...outputs, ...writes.map((w) => ({ ...w, partition }))];
}

function batchIdOf(value: unknown): string | null {
  return (value as { header?: { batchId?: string | null } } | undefined)?.header?.batchId ?? null;
}



export function runProcessor(kafka: Kafka, serde: Serde, definition: ProcessorDefinition, options: RuntimeOptions): RunningProcessor {
  const { topology, workerId, transactions } = options;
  const processor = definition.id;
  const groupId = topology.group(processor);
  // The graph in topology/ is what lag metrics, status and the intake's backpressure watch.
  const declared = PROCESSORS[processor].inputs.map((id) => topology.topics[id].name);
  if (declared.join() !== definition.inputs.map((t) => t.name).join()) {
    throw new Error(`processor ${processor} reads ${definition.inputs.map((t) => t.name).join(', ')}, but the topology graph says ${declared.join(', ')}`);
  }
  const logger = options.logger.child({ processor, groupId });
  const recordAttempts = options.recordAttempts ?? DEFAULT_RECORD_ATTEMPTS;
  // Outputs and stores are checked against the processor's declaration (processors/<name>/topology.ts).
  const checkOutput = outputGuard(processor, topology);
  // A handler's RetryLater goes to the processor's next declared retry topic, then the DLQ.
  const routeRetries = retryRouter(processor, topology);
  // The processor's declared key-value stores (ctx.store): changelog, restore and horizon live here.
  const stores = processorStores(processor, topology, definition.stores ?? {});
  /** Drops a partition's state, the runtime's stores and the processor's own. */
  function forget(partition: number): void {
    stores.drop(partition);
    definition.revoke?.(partition);
  }
  const inputsByName = new Map(definition.inputs.map((t) => [t.name, t]));
  const firstInput = definition.inputs[0]!.name;
  const abort = new AbortController();
  const partitions = new Map<number, PartitionState>();
  let assigned = new Map<string, number[]>();

  // The Kafka client (KAFKA_CLIENT) is behind this seam: stage-client.ts.
  const consumer = createRuntimeConsumer(kafka, groupId, { ...options, autoCommit: !transactions }, {
    logger,
    signal: abort.signal,
    fail,
    assigned: onGroupJoin,
    revoking: async (revoked) => {
      // No timer starts on a partition that is moving; the batches and timers in hand commit first.
      assigned = new Map();
      await Promise.all([...new Set(revoked.map((r) => r.partition))].map((p) => partitions.get(p)?.lock ?? Promise.resolve()));
    },
  });
  const producers = consumer.producers({ groupId, processor, workerId, transactions });

  function committedOffsets(partition: number): Promise<Map<string, bigint>> {
    return consumer.committed(groupId, definition.inputs.map((t) => t.name), partition);
  }

  function partitionContext(partition: number, committed: Map<string, bigint>, signal: AbortSignal, store: PartitionContext<StoreSpecs>['store']): PartitionContext<StoreSpecs> {
    return {
      processor,
      partition,
      workerId,
      logger: logger.child({ partition }),
      signal,
      committedOffsets: committed,
      store,
      readPartition: (topic, p, from, onRecord, until) => readPartition(kafka, topic, p, from, onRecord, { ...(until !== undefined && { until }) }),
      replayInput: (topic, from, onRecord) => {
        if (!inputsByName.has(topic.name)) return Promise.reject(new UndeclaredOutputError(`processor ${processor} asked to replay ${topic.name}, which is not one of its inputs`));
        return readPartition(kafka, topic.name, partition, from, onRecord, { until: committed.get(topic.name) ?? 0n });
      },
    };
  }

  /** Fences, re-reads committed offsets and restores the processor's state for a partition. */
  async function initPartition(partition: number, state: PartitionState, signal: AbortSignal): Promise<void> {
    for (const topic of definition.inputs) await producers.fence(topic.name, partition);
    const committed = await committedOffsets(partition);
    signal.throwIfAborted();
    for (const [topic, offset] of committed) {
      // A restore after this instance's own commit (a batch failed on a rebalance right after)
      // may read the offset before it: kafkajs' offset fetch does not wait for a transaction's
      // offsets to be written. Offsets only move forward, so what we committed ourselves stands;
      // with the stale one the windower replayed nothing and lost its open window's members.
      const own = state.nextOffsets.get(topic);
      if (own !== undefined && own > offset) committed.set(topic, own);
      state.nextOffsets.set(topic, committed.get(topic)!);
    }
    await stores.restore(partition, (changelog, onRecord) => readPartition(kafka, changelog, partition, 0n, onRecord), signal);
    // Read-only stores: a restore rebuilds state, it writes none.
    await definition.assign?.(partitionContext(partition, committed, signal, stores.views(partition, false).view));
    logger.info({ partition, offsets: Object.fromEntries([...committed].map(([t, o]) => [t, o.toString()])) }, 'partition ready');
  }

  /**
   * The last restore started per partition number, across revocations: the next one waits for
   * it. A restore is bounded by RESTORE_DEADLINE_MS, so one hung request (a connection lost in
   * an outage) cannot hold its partition for ever.
   */
  const lastRestore = new Map<number, Promise<void>>();

  /**
   * Drops and restores a partition's state, unless a restore of it is already running. Called
   * only by the holder of the partition's lock (a failed batch or timer, before it lets the next
   * one run) or on assignment, before any job is queued; every job waits for `state.ready` once
   * it holds the lock, so no batch or timer runs while the state is dropped (the windower read a
   * store that was gone and exited: chaos suite, MinIO restart).
   */
  function restore(partition: number, state: PartitionState): void {
    if (state.restoring) return;
    state.restoring = true;
    const previous = lastRestore.get(partition) ?? Promise.resolve();
    state.ready = previous
      .catch(() => undefined)
      .then(async () => {
        forget(partition);
        const abandon = new AbortController();
        try {
          await withTimeout(initPartition(partition, state, AbortSignal.any([abort.signal, abandon.signal])), RESTORE_DEADLINE_MS, () =>
            PermitflowError.retriable('PF_RESTORE_TIMEOUT', `restoring partition ${partition} took over ${RESTORE_DEADLINE_MS} ms: abandoned, restoring again`),
          );
        } catch (err) {
          // Whatever of it is still running applies nothing more (the processor checks the signal).
          abandon.abort(err);
          throw err;
        }
      })
      .finally(() => (state.restoring = false));
    lastRestore.set(partition, state.ready);
    // Awaited by the next batch or timer; a failure there starts the next restore.
    state.ready.catch(() => undefined);
  }

  function onAssignment(assignment: Record<string, number[]>): void {
    const numbers = new Set(Object.values(assignment).flat());
    for (const [partition] of partitions) {
      if (!numbers.has(partition)) {
        partitions.delete(partition);
        forget(partition);
        // A restore still running would fill the state in again for a partition we no longer own.
        const running = lastRestore.get(partition);
        if (running) lastRestore.set(partition, running.catch(() => undefined).then(() => { if (!partitions.has(partition)) forget(partition); }));
        for (const topic of definition.inputs) void producers.release(topic.name, partition);
        logger.info({ partition }, 'partition revoked');
      }
    }
    for (const partition of numbers) {
      if (partitions.has(partition)) continue;
      const state: PartitionState = { ready: Promise.resolve(), restoring: false, nextOffsets: new Map(), lock: Promise.resolve(), failures: 0 };
      partitions.set(partition, state);
      restore(partition, state);
    }
    assigned = new Map(Object.entries(assignment));
  }

  /**
   * Runs `fn` once no other batch or timer of the partition is running and its state is ready.
   * A failed `fn` may have changed in-memory state it never committed (a windower whose close
   * failed had already dropped its window: a batch queued behind it opened a new one over the
   * changelog's, and the old window's members were never chunked), so the restore starts before
   * the lock is released, and the next job, whenever it was queued, waits for it.
   */
  async function withPartition(partition: number, fn: (state: PartitionState) => Promise<void>): Promise<void> {
    const state = partitions.get(partition);
    if (!state) return;
    const previous = state.lock;
    let release!: () => void;
    state.lock = new Promise((resolve) => (release = resolve));
    try {
      await previous;
      try {
        await state.ready;
      } catch (err) {
        restore(partition, state);
        throw err;
      }
      try {
        await fn(state);
      } catch (err) {
        // A programmer error stops the processor: nothing to restore.
        if (classify(err) !== 'fatal') restore(partition, state);
        throw err;
      }
    } finally {
      release();
    }
  }

  /** Encodes outputs as records; their commit conditions go to `conditions`, for the transaction to await. */
  async function encode(outputs: RuntimeOutput[], partition: number, traceparent: string, conditions: Promise<unknown>[]): Promise<ProducedRecord[]> {
    const records: (Output | StoreRecord)[] = [];
    for (const o of outputs) {
      if (isCommitCondition(o)) {
        conditions.push(o.awaitBeforeCommit);
      } else {
        if (!isStoreRecord(o)) checkOutput(o);
        records.push(o);
      }
    }
    return Promise.all(
      records.map(async (o): Promise<ProducedRecord> => {
        if (isStoreRecord(o)) return { topic: declaredStore(processor, topology, o.store), partition: o.partition, key: o.key, value: o.value };
        const receivedAt = TERMINAL_STATES.has(o.topic.id) ? (o.value as { header?: StateHeader }).header?.receivedAt : undefined;
        const value = await serde.encode(o.topic, o.value);
        const headers = { traceparent, ...o.headers };
        const bytes = Buffer.byteLength(o.key) + value.length + Object.entries(headers).reduce((n, [k, v]) => n + k.length + Buffer.byteLength(v ?? ''), 0);
        if (bytes > MAX_RECORD_BYTES) {
          throw PermitflowError.permanent('PF_RECORD_TOO_LARGE', `${o.topic.id} record of ${bytes} bytes exceeds the ${MAX_RECORD_BYTES} bytes Kafka accepts`);
        }
        runtimeMetrics.recordsOut.inc({ processor, topic: o.topic.id });
        return {
          topic: o.topic.name,
          partition: o.partition ?? partition,
          key: o.key,
          value,
          headers,
          ...(typeof receivedAt === 'number' && { decision: { outcome: o.topic.id, receivedAt } }),
        };
      }),
    );
  }

  /**
   * Log fields that let a reader follow one submission: its hash, batch and trace. Producers
   * outside permitflow write the raw topic too: a key that is not a hash (an e-mail, say) never
   * reaches a log line or a span.
   */
  function recordLogger(key: string | null, value: unknown, traceparent: string): Logger {
    const batchId = batchIdOf(value);
    return logger.child({ ...(isSubmissionHash(key) && { submissionHash: key }), ...(batchId && { batchId }), traceId: traceIdOf(traceparent) });
  }

  /** Handles one record as one span; a permanent failure becomes a dead letter, anything else propagates. */
  async function handle(topicName: string, partition: number, message: KafkaMessage, conditions: Promise<unknown>[]): Promise<ProducedRecord[]> {
    const topic = inputsByName.get(topicName)!;
    const headers = stringHeaders(message.headers);
    const key = message.key?.toString('utf8') ?? null;
    // Built only for a span: with tracing off this is per-record work for nothing.
    const attributes = tracingEnabled() && {
      [MESSAGING.system]: 'kafka',
      [MESSAGING.operationType]: 'process',
      [MESSAGING.operationName]: 'process',
      [MESSAGING.destination]: topicName,
      [MESSAGING.partition]: String(partition),
      [MESSAGING.consumerGroup]: groupId,
      [MESSAGING.offset]: Number(message.offset),
      ...(isSubmissionHash(key) && { [MESSAGING.key]: key }),
    };
    return inSpan(`process ${topicName}`, { kind: SpanKind.CONSUMER, incoming: headers.traceparent, ...(attributes && { attributes }) }, async (traceparent) => {
      runtimeMetrics.recordsIn.inc({ processor, topic: topic.id });
      runtimeMetrics.inFlight.inc({ processor });
      const end = runtimeMetrics.recordSeconds.startTimer({ processor });
      let value: unknown;
      let log: Logger | undefined;
      const views = stores.views(partition, true);
      const ctx: RecordContext<StoreSpecs> = {
        processor,
        workerId,
        // Built on first use: most records are handled without a log line.
        get logger() {
          return (log ??= recordLogger(key, value, traceparent));
        },
        traceparent,
        signal: abort.signal,
        pauseUntil,
        store: views.view,
      };
      try {
        if (!message.value) throw PermitflowError.permanent('PF_EMPTY_RECORD', `record on ${topicName} has no value`);
        value = await serde.decode(topic, message.value);
        const record: InputRecord = { topic, partition, offset: message.offset, timestamp: Number(message.timestamp), key, value, headers };
        // The store writes join the outputs only when the handler returns: a record dead-lettered or sent to retry leaves no state.
        const processRecord = async () => withStoreWrites(await definition.process(record, ctx), views.commit(), partition);
        return await encode(await routeRetries(record, ctx, processRecord), partition, traceparent, conditions);
      } catch (err) {
        if (classify(err) !== 'dead-letter') throw err;
        return deadLetterOutput(topicName, partition, message, batchIdOf(value), err, traceparent, ctx.logger);
      } finally {
        end();
        runtimeMetrics.inFlight.dec({ processor });
      }
    });
  }

  /** The DLQ record for a message the stage gives up on (produced in the transaction that commits past it). */
  async function deadLetterOutput(topicName: string, partition: number, message: KafkaMessage, batchId: string | null, err: unknown, traceparent: string, log: Logger): Promise<ProducedRecord[]> {
    const letter = deadLetter({ stage: processor, consumerGroup: groupId, topic: topicName, partition, message, workerId, batchId }, err);
    runtimeMetrics.deadLetters.inc({ processor, error_class: letter.errorClass });
    log.warn({ partition, offset: message.offset, errorClass: letter.errorClass, err }, 'record dead-lettered');
    const dlq = topology.topics.dlq;
    return [{ topic: dlq.name, partition, key: letter.submissionHash ?? '', value: await serde.encode(dlq, letter), headers: { traceparent } }];
  }

  /** Counts a failed attempt against the record at `offset` (a new record starts a new count). */
  function noteFailure(state: PartitionState, topic: string, offset: bigint, err: unknown): Failing {
    const same = state.failing?.topic === topic && state.failing.offset === offset;
    const failing: Failing = same ? state.failing! : { topic, offset, attempts: 0, firstFailureAt: Date.now(), errors: [] };
    failing.attempts += 1;
    const chain = errorChain(err).join(' <- ');
    if (!failing.errors.includes(chain)) failing.errors = [...failing.errors, chain].slice(-MAX_PRIOR_ERRORS);
    state.failing = failing;
    return failing;
  }

  /** Why a record is set aside after `failing`: the last error as cause, the earlier ones as history. */
  function givenUp(failing: Failing, err: unknown): PermitflowError {
    const refused = classify(err) === 'dead-letter';
    const code = refused ? 'PF_RECORD_REFUSED' : 'PF_ATTEMPTS_EXHAUSTED';
    const message = refused ? 'the record or its outputs were refused as data' : `the record failed ${failing.attempts} attempts with an unclassified error`;
    const last = errorChain(err).join(' <- ');
    return PermitflowError.permanent(code, message, { cause: err, context: { attempt: failing.attempts, firstFailureAt: failing.firstFailureAt, priorErrors: failing.errors.filter((e) => e !== last) } });
  }

  /**
   * One record of a batch that kept failing, in a transaction of its own. Infrastructure errors
   * propagate (the batch is retried as usual, from this record); any other failure restores the
   * partition's state (the handler may have changed it) and retries the record in place within
   * its budget; past it (at once for data errors) the record is dead-lettered and the batch goes on.
   */
  async function isolatedRecord(topic: string, partition: number, state: PartitionState, message: KafkaMessage, commitOffset: bigint, heartbeat: () => Promise<void>): Promise<ProducedRecord[]> {
    const offsets = { topic, partition, offset: commitOffset };
    for (;;) {
      try {
        const conditions: Promise<unknown>[] = [];
        const produced = await handle(topic, partition, message, conditions);
        await Promise.all(conditions);
        await producers.commit(topic, partition, produced, offsets);
        return produced;
      } catch (err) {
        if (isRebalance(err) || classify(err) === 'fatal' || isInfrastructureError(err)) throw err;
        const failing = noteFailure(state, topic, BigInt(message.offset), err);
        restore(partition, state);
        await state.ready;
        if (classify(err) !== 'dead-letter' && failing.attempts < recordAttempts) {
          logger.warn({ err, partition, offset: message.offset, attempt: failing.attempts }, 'isolated record failed: retrying it');
          await retryPause(batchRetryDelay(failing.attempts, options.sessionTimeoutMs), abort.signal);
          await heartbeat().catch(() => undefined);
          continue;
        }
        const traceparent = stringHeaders(message.headers).traceparent ?? continueOrStart(undefined);
        const letter = await deadLetterOutput(topic, partition, message, null, givenUp(failing, err), traceparent, logger);
        await producers.commit(topic, partition, letter, offsets);
        return letter;
      }
    }
  }

  const delayTimers = new Set<NodeJS.Timeout>();

  /**
   * kafkajs drops its consumer group while it restarts after a crash (a broker outage): resume
   * then throws, from a timer, which would kill the process. The new group starts with nothing
   * paused: a held retry partition is held again when its records come back, and an input
   * pause is put back when the group is joined.
   */
  function resume(topics: { topic: string; partitions?: number[] }[]): void {
    try {
      consumer.resume(topics);
    } catch (err) {
      logger.debug({ err }, 'consumer restarting: nothing to resume');
    }
  }

  /** Holds a delayed (retry) topic's partition until its next record is due; other partitions go on. */
  function holdUntilDue(topic: string, partition: number, offset: bigint, dueAt: number): void {
    consumer.seek({ topic, partition, offset: offset.toString() });
    consumer.pause([{ topic, partitions: [partition] }]);
    const timer = setTimeout(() => {
      delayTimers.delete(timer);
      resume([{ topic, partitions: [partition] }]);
    }, Math.max(0, dueAt - Date.now()));
    timer.unref();
    delayTimers.add(timer);
  }

  async function processBatch(payload: EachBatchPayload): Promise<void> {
    const { batch } = payload;
    const delayMs = inputsByName.get(batch.topic)?.delayMs;
    await withPartition(batch.partition, async (state) => {
      const next = state.nextOffsets.get(batch.topic) ?? 0n;
      let messages = batch.messages.filter((m) => BigInt(m.offset) >= next);
      // Records of a retry topic wait until their delay has passed; they are in time order,
      // so the first one not yet due holds back the rest of the partition.
      let notDue: { offset: bigint; dueAt: number } | undefined;
      if (delayMs !== undefined) {
        const now = Date.now();
        const index = messages.findIndex((m) => Number(m.timestamp) + delayMs > now);
        if (index >= 0) {
          notDue = { offset: BigInt(messages[index]!.offset), dueAt: Number(messages[index]!.timestamp) + delayMs };
          messages = messages.slice(0, index);
        }
      }
      // Records of a batch that kept failing go one per transaction (see the header comment).
      const isolateThrough = state.isolate?.topic === batch.topic ? state.isolate.through : -1n;
      for (let i = 0; i < messages.length; ) {
        if (!payload.isRunning() || payload.isStale()) return;
        const isolated = BigInt(messages[i]!.offset) <= isolateThrough;
        const chunk = messages.slice(i, i + (isolated ? 1 : options.maxRecordsPerTransaction));
        i += chunk.length;
        const isLast = i >= messages.length && !notDue;
        // The last chunk commits past trailing transaction markers too.
        const lastOffset = isLast ? BigInt(batch.lastOffset()) : BigInt(chunk[chunk.length - 1]!.offset);
        let produced: ProducedRecord[];
        if (isolated) {
          produced = await isolatedRecord(batch.topic, batch.partition, state, chunk[0]!, lastOffset + 1n, () => payload.heartbeat());
        } else {
          // Commit conditions (an archive a manifest points to) run while the later records are handled.
          const conditions: Promise<unknown>[] = [];
          produced = (await mapBounded(chunk, definition.concurrency ?? 1, (m) => handle(batch.topic, batch.partition, m, conditions))).flat();
          await Promise.all(conditions);
          await producers.commit(batch.topic, batch.partition, produced, { topic: batch.topic, partition: batch.partition, offset: lastOffset + 1n });
        }
        observeDecisions(produced);
        state.nextOffsets.set(batch.topic, lastOffset + 1n);
        state.failures = 0;
        if (state.failing?.topic === batch.topic && state.failing.offset <= lastOffset) state.failing = undefined;
        if (state.isolate?.topic === batch.topic && state.isolate.through <= lastOffset) state.isolate = undefined;
        payload.resolveOffset(lastOffset.toString());
        await payload.heartbeat();
      }
      if (notDue) holdUntilDue(batch.topic, batch.partition, notDue.offset, notDue.dueAt);
    });
  }

  async function eachBatch(payload: EachBatchPayload): Promise<void> {
    const { batch } = payload;
    try {
      // Handlers may outlast the session timeout (a scan's OCR): heartbeat while the batch is in hand.
      await whileHeartbeating(() => payload.heartbeat(), heartbeatIntervalMs(options.sessionTimeoutMs), logger, () => processBatch(payload));
    } catch (err) {
      // The group is rebalancing: what was committed stays committed; kafkajs must rejoin. What
      // this batch changed in memory was not committed: withPartition restored the partition all
      // the same, or a windower kept hashes it never wrote (dropped as duplicates when redelivered).
      if (isRebalance(err)) throw err;
      const disposition = classify(err);
      if (disposition === 'fatal') {
        logger.fatal({ err, partition: batch.partition }, 'programmer error: stopping the processor');
        fail(err);
        return;
      }
      const state = partitions.get(batch.partition);
      if (!state) return;
      state.failures += 1;
      // Data errors and unclassified ones count against the first uncommitted record; past the
      // budget (data errors at once) the batch is isolated. Infrastructure errors never count.
      if (disposition === 'dead-letter' || retryBudgeted(err)) {
        const failing = noteFailure(state, batch.topic, state.nextOffsets.get(batch.topic) ?? 0n, err);
        if (disposition === 'dead-letter' || failing.attempts >= recordAttempts) {
          state.isolate = { topic: batch.topic, through: BigInt(batch.lastOffset()) };
          logger.warn({ partition: batch.partition, attempts: failing.attempts }, 'batch keeps failing: its records go one per transaction');
        }
      }
      const delay = batchRetryDelay(state.failures, options.sessionTimeoutMs);
      // withPartition is restoring the partition: the handler may have changed in-memory state for records never committed.
      logger.warn({ err, partition: batch.partition, attempt: state.failures, delayMs: delay }, 'batch failed: restoring partition and retrying');
      consumer.seek({ topic: batch.topic, partition: batch.partition, offset: (state.nextOffsets.get(batch.topic) ?? 0n).toString() });
      await retryPause(delay, abort.signal);
      await payload.heartbeat().catch(() => undefined);
    }
  }

  let paused: Promise<unknown> | undefined;

  /** Pauses every input until `until` settles (an open circuit breaker, say); one pause at a time. */
  function pauseUntil(until: Promise<unknown>): void {
    if (paused) return;
    const topics = definition.inputs.map((t) => ({ topic: t.name }));
    consumer.pause(topics);
    runtimeMetrics.pausedPartitions.set({ processor }, [...assigned.values()].flat().length);
    logger.warn('input paused');
    paused = until
      // A pause ends when `until` settles, either way; its rejection is its owner's to report.
      .catch(() => undefined)
      .finally(() => {
        paused = undefined;
        resume(topics);
        runtimeMetrics.pausedPartitions.set({ processor }, 0);
        logger.info('input resumed');
      });
  }

  let punctuator: NodeJS.Timeout | undefined;
  function startPunctuation(): void {
    const punctuate = definition.punctuate;
    if (!punctuate) return;
    // Per partition: one partition's slow restore or commit does not hold back the others' timers.
    const running = new Set<number>();
    punctuator = setInterval(() => {
      const now = Date.now();
      const owned = [...partitions.keys()].filter((p) => (assigned.get(firstInput) ?? []).includes(p) && !running.has(p));
      for (const partition of owned) {
        running.add(partition);
        withPartition(partition, async (state) => {
          const views = stores.views(partition, true);
          const timerOutputs = await punctuate.run(partitionContext(partition, state.nextOffsets, abort.signal, views.view), now);
          const outputs = withStoreWrites(timerOutputs, views.commit(), partition);
          if (outputs.length === 0) return;
          const conditions: Promise<unknown>[] = [];
          const produced = await encode(outputs, partition, continueOrStart(undefined), conditions);
          await Promise.all(conditions);
          // The input's committed offset again: under KIP-447 it carries the group generation,
          // so a zombie's timer (its partition already moved) is fenced like its batches.
          await producers.commit(firstInput, partition, produced, { topic: firstInput, partition, offset: state.nextOffsets.get(firstInput) ?? 0n });
        })
          .catch((err: unknown) => {
            // withPartition has started the partition's restore (unless the error is fatal).
            logger.warn({ err, partition }, 'punctuation failed: restoring partition');
            if (classify(err) === 'fatal') fail(err);
          })
          .finally(() => running.delete(partition));
      }
    }, punctuate.intervalMs);
    punctuator.unref();
  }

  /**
   * Lag at rest is 0: a partition idle for IDLE_SWEEP_MS whose end lies past its committed
   * offset only by transaction markers commits past them (stage-client.ts, pastTrailingMarkers),
   * in a transaction like any batch's. One partition at a time: at rest there is time.
   */
  let sweeper: NodeJS.Timeout | undefined;
  function startIdleSweep(): void {
    if (!transactions) return;
    let sweeping = false;
    sweeper = setInterval(() => {
      if (sweeping) return;
      sweeping = true;
      void (async () => {
        for (const [topic, owned] of assigned) {
          for (const partition of owned) {
            const from = partitions.get(partition)?.nextOffsets.get(topic);
            if (abort.signal.aborted || from === undefined || !consumer.idle(topic, partition, IDLE_SWEEP_MS)) continue;
            // Read outside the partition's lock: a batch arriving meanwhile is not held up.
            const end = await pastTrailingMarkers(kafka, topic, partition, from);
            if (end === undefined) continue;
            await withPartition(partition, async (state) => {
              // A batch committed meanwhile: the next sweep looks again.
              if (state.nextOffsets.get(topic) !== from || !consumer.idle(topic, partition, 0)) return;
              try {
                await producers.commit(topic, partition, [], { topic, partition, offset: end });
              } catch (err) {
                // Only an offset failed to move: no state to restore, the next sweep tries again.
                logger.debug({ err, partition }, 'idle sweep: commit past trailing markers failed');
                return;
              }
              state.nextOffsets.set(topic, end);
            });
          }
        }
      })()
        .catch((err: unknown) => logger.debug({ err }, 'idle sweep: trailing markers not committed this time'))
        .finally(() => (sweeping = false));
    }, IDLE_SWEEP_MS);
    sweeper.unref();
  }

  let stopping: Promise<void> | undefined;
  let settle!: { resolve: () => void; reject: (err: unknown) => void };
  const done = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));

  async function shutdown(): Promise<void> {
    abort.abort();
    if (punctuator) clearInterval(punctuator);
    if (sweeper) clearInterval(sweeper);
    for (const timer of delayTimers) clearTimeout(timer);
    // Lets the batch in hand finish (and commit), then leaves the group.
    await consumer.stop();
    await producers.close();
    await definition.close?.().catch((err: unknown) => logger.warn({ err }, 'processor close failed'));
    logger.info('stopped');
  }

  function stop(): Promise<void> {
    stopping ??= shutdown().then(settle.resolve);
    return stopping;
  }

  /** A fatal error stops the processor; `done` rejects so the process exits non-zero. */
  function fail(err: unknown): void {
    stopping ??= shutdown().then(() => settle.reject(err));
  }

  let markStarted!: () => void;
  const started = new Promise<void>((resolve) => (markStarted = resolve));
  function onGroupJoin(assignment: Record<string, number[]>): void {
    onAssignment(assignment);
    // A consumer restarted after a crash comes back unpaused.
    if (paused) consumer.pause(definition.inputs.map((t) => ({ topic: t.name })));
    markStarted();
  }

  // A topic or schema the declaration needs and the deployment lacks stops the stage here, named.
  void assertDeployed(kafka, serde, processor, topology, { logger, signal: abort.signal })
    .then(async () => {
      if (abort.signal.aborted) return; // stopped while checking: join nothing
      // Without transactions (the crash tests' control run only): plain at-least-once.
      await consumer.start(definition.inputs.map((t) => t.name), { autoCommit: !transactions, partitionsConcurrently: options.partitionsConcurrently, eachBatch });
      startPunctuation();
      startIdleSweep();
    })
    .catch((err: unknown) => fail(err));

  return {
    started: Promise.race([started, done]),
    done,
    stop,
    pauseUntil,
  };
}
