/**
 * The lifecycle of a sink stage: one that consumes topics and writes somewhere other than Kafka
 * (the read model and the notifier to PostgreSQL, the archiver to the object store), so it does
 * not run on the exactly-once runtime but keeps its conventions, written once here:
 *
 * - start: the deployment check of its declaration (lib/deployment.ts: a missing topic stops it
 *   naming the topic), then the sink's own preparation (migrations, say), then the group join;
 *   `started` resolves once the sink positioned the assigned partitions (`onAssignment`);
 * - each fetched batch is applied until it succeeds: transient failures retry with the one
 *   backoff policy (lib/backoff.ts, capped below the session timeout because the partition waits
 *   inside its batch handler); a stale batch (revoked partition) or a stopping consumer gives up;
 *   an error that `stops` the sink (programmer errors, a broken deployment) stops it and `done`
 *   rejects, so `run` exits 1 naming the cause;
 * - crashes kafkajs does not restart from are restarted with backoff (restartAfterCrash);
 * - stop: the retry pause ends, the sink's `beforeStop` runs while the consumer is still in its
 *   group (a graceful flush), the consumer leaves, then the sink's `close`.
 * In lib/, so connectors run a stage without importing processors/.
 */
import type { Consumer, EachBatchPayload, Kafka } from 'kafkajs';
import type { Serde } from '../schemas/serde.ts';
import type { ProcessorId, TopicSpec, Topology } from '../topology/topics.ts';
import { batchRetryDelay, retryPause } from './backoff.ts';
import { assertDeployed } from './deployment.ts';
import { classify } from './errors.ts';
import type { Logger } from './logger.ts';
import { restartAfterCrash } from './stage-consumer.ts';

export interface SinkOptions {
  /** The stage's declaration: its inputs are checked at start. */
  processor: ProcessorId;
  kafka: Kafka;
  serde: Serde;
  topology: Topology;
  logger: Logger;
  /** Made with createStageConsumer; the sink may seek or commit with it. */
  consumer: Consumer;
  inputs: readonly TopicSpec[];
  partitionsConcurrently: number;
  sessionTimeoutMs: number;
  /** Kafka offsets committed after applied batches (for lag only); false: the sink commits them itself. */
  autoCommit: boolean;
  /** After the deployment check, before joining: migrations, workers. Skipped when stopped meanwhile. */
  prepare?: () => Promise<void>;
  /** On every group join: seeks each assigned partition to where the sink's own store says it ends. */
  onAssignment?: (assignment: Record<string, number[]>) => Promise<void>;
  /** Applies one fetched batch; a throw retries it, unless `stops` says the sink must stop. */
  apply: (payload: EachBatchPayload) => Promise<void>;
  /** Errors that stop the sink instead of being retried; default: classify() says fatal. */
  stops?: (err: unknown) => boolean;
  /**
   * After a failed attempt and its pause: 'retry' the batch (the default), or 'abandon' it
   * because the partition was sought back to where the sink's store ends (the archiver).
   */
  recover?: (payload: EachBatchPayload, err: unknown) => Promise<'retry' | 'abandon'>;
  /** At stop, while the consumer is still in its group; `graceful` is false on a fatal error. */
  beforeStop?: (graceful: boolean) => Promise<void>;
  /** After the consumer left its group: the sink's own clients. */
  close?: () => Promise<void>;
}

export interface RunningSink {
  /** Resolves once the consumer joined its group and positioned its partitions (or the sink stopped). */
  started: Promise<void>;
  /** Resolves when stopped; rejects on an error that stopped the sink. */
  done: Promise<void>;
  stop(): Promise<void>;
}

export function runSink(options: SinkOptions): RunningSink {
  const { consumer, logger } = options;
  const stops = options.stops ?? ((err: unknown) => classify(err) === 'fatal');
  /** Aborted when the sink stops: a batch waiting to retry gives up its pause, a start does not join. */
  const stopping = new AbortController();

  let settle!: { resolve: () => void; reject: (err: unknown) => void };
  const done = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
  let stopped: Promise<void> | undefined;
  let preparing: Promise<void> | undefined;
  async function shutdown(graceful: boolean): Promise<void> {
    stopping.abort();
    await options.beforeStop?.(graceful).catch((err: unknown) => logger.warn({ err }, 'sink did not finish its work at stop'));
    await consumer.stop().catch(() => undefined);
    await consumer.disconnect().catch(() => undefined);
    // A stop during the preparation closes what it opened only once it finished opening it.
    await preparing?.catch(() => undefined);
    await options.close?.().catch((err: unknown) => logger.warn({ err }, 'sink clients did not close cleanly'));
    logger.info('stopped');
  }
  const stop = (): Promise<void> => (stopped ??= shutdown(true).then(settle.resolve));
  function fail(err: unknown): void {
    stopped ??= shutdown(false).then(() => settle.reject(err));
  }

  async function eachBatch(payload: EachBatchPayload): Promise<void> {
    const { batch } = payload;
    const where = { topic: batch.topic, partition: batch.partition };
    for (let attempt = 1; ; attempt++) {
      if (!payload.isRunning() || payload.isStale()) return;
      try {
        await options.apply(payload);
        break;
      } catch (err) {
        if (stops(err)) {
          logger.fatal({ err, ...where }, 'error the sink cannot retry: stopping it');
          fail(err);
          return;
        }
        const delayMs = batchRetryDelay(attempt, options.sessionTimeoutMs);
        logger.warn({ err, ...where, attempt, delayMs }, 'sink batch failed: retrying');
        await retryPause(delayMs, stopping.signal);
        // A stopping sink leaves the batch unresolved: the partition's next owner reads it again.
        if (stopping.signal.aborted) return;
        await payload.heartbeat().catch(() => undefined);
        if (!options.recover) continue;
        try {
          if ((await options.recover(payload, err)) === 'abandon') return;
        } catch (recoverErr) {
          if (stops(recoverErr)) {
            fail(recoverErr);
            return;
          }
          logger.warn({ err: recoverErr, ...where }, 'sink could not recover the partition yet');
        }
      }
    }
    payload.resolveOffset(batch.lastOffset());
    if (options.autoCommit) await payload.commitOffsetsIfNecessary();
    await payload.heartbeat();
  }

  let markStarted!: () => void;
  const joined = new Promise<void>((resolve) => (markStarted = resolve));
  consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
    if (!options.onAssignment) return markStarted();
    options.onAssignment(payload.memberAssignment).then(markStarted, (err: unknown) => {
      if (stops(err)) fail(err);
      // Batches of a partition not positioned yet wait for it or are filtered by the sink's store.
      else logger.warn({ err }, 'could not position the assigned partitions');
      markStarted();
    });
  });

  async function startConsumer(): Promise<void> {
    await consumer.connect();
    for (const topic of options.inputs) await consumer.subscribe({ topic: topic.name, fromBeginning: true });
    await consumer.run({
      autoCommit: options.autoCommit,
      ...(options.autoCommit && { autoCommitInterval: 5_000 }),
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: options.partitionsConcurrently,
      eachBatch,
    });
  }

  const ready = (async () => {
    // A topic the declaration reads and the deployment lacks stops the sink here, named.
    await assertDeployed(options.kafka, options.serde, options.processor, options.topology, { logger, signal: stopping.signal });
    if (stopping.signal.aborted) return;
    preparing = options.prepare?.();
    await preparing;
    if (stopping.signal.aborted) return; // stopped while preparing: join nothing
    restartAfterCrash(consumer, { logger, signal: stopping.signal, start: startConsumer, fail });
    await startConsumer();
  })();
  ready.catch((err: unknown) => fail(err));

  return { started: Promise.race([ready.then(() => joined), done]), done, stop };
}
