/**
 * The consumer settings and crash recovery every stage shares: the transactional runtime and the
 * sinks (lib/sink-runner.ts: read model, notifier, archiver), which write to PostgreSQL or the
 * object store instead of Kafka. A neutral module (lib/), so connectors can run a stage without
 * importing processors/. Retry pacing is lib/backoff.ts.
 */
import type { Consumer, Kafka } from 'kafkajs';
import { batchRetryDelay, retryPause } from './backoff.ts';
import { classify } from './errors.ts';
import type { Logger } from './logger.ts';

export interface StageConsumerOptions {
  maxBytesPerPartition: number;
  partitionsConcurrently: number;
  sessionTimeoutMs: number;
}

/** Every stage's heartbeat interval: a tenth of the session timeout, as Kafka's own clients default to, at least 500 ms. */
export const heartbeatIntervalMs = (sessionTimeoutMs: number): number => Math.max(500, Math.floor(sessionTimeoutMs / 10));

/** A read_committed consumer whose fetches are bounded per partition (bounded memory). */
export function createStageConsumer(kafka: Kafka, groupId: string, options: StageConsumerOptions): Consumer {
  return kafka.consumer({
    groupId,
    readUncommitted: false,
    maxBytesPerPartition: options.maxBytesPerPartition,
    maxBytes: options.maxBytesPerPartition * Math.max(options.partitionsConcurrently, 1) * 2,
    sessionTimeout: options.sessionTimeoutMs,
    rebalanceTimeout: 60_000,
    heartbeatInterval: heartbeatIntervalMs(options.sessionTimeoutMs),
    allowAutoTopicCreation: false,
    retry: { retries: 10 },
  });
}

export interface RestartOptions {
  logger: Logger;
  /** Aborted when the stage stops: no restart then. */
  signal: AbortSignal;
  /** Connects, subscribes and runs the consumer again (what the stage did at start). */
  start: () => Promise<void>;
  /** A programmer error, or a crash the stage cannot recover from: stop the stage. */
  fail: (err: unknown) => void;
}

/**
 * Keeps a stage consumer running across broker outages. kafkajs restarts a crashed consumer
 * only after errors it deems retriable, and a broker that is coming back answers some it does
 * not (KafkaJSGroupCoordinatorNotFound while the coordinator loads): the stage would exit on a
 * broker restart and wait for a supervisor. Those crashes start the consumer again here, with
 * backoff until it starts; a programmer error still stops the stage.
 *
 * A start can crash too without failing: kafkajs's run() reports a failed group join as a crash
 * and resolves. That crash arrives while this restart is under way, so it makes the restart try
 * again instead of being dropped (the decider exited with nothing left running: chaos suite,
 * broker SIGKILL).
 */
export function restartAfterCrash(consumer: Consumer, options: RestartOptions): void {
  const { logger, signal, start, fail } = options;
  let restarting = false;
  let crashedWhileStarting: Error | undefined;
  consumer.on(consumer.events.CRASH, ({ payload }) => {
    if (payload.restart || signal.aborted) return;
    if (classify(payload.error) === 'fatal') {
      fail(payload.error);
      return;
    }
    if (restarting) {
      crashedWhileStarting = payload.error;
      return;
    }
    restarting = true;
    logger.warn({ err: payload.error }, 'consumer stopped on an error kafkajs does not retry: starting it again');
    void (async () => {
      for (let attempt = 1; !signal.aborted; attempt++) {
        await retryPause(batchRetryDelay(attempt, 30_000), signal);
        if (signal.aborted) return;
        try {
          crashedWhileStarting = undefined;
          await start();
          // Set by the listener while start() ran (TypeScript cannot see that assignment).
          const crashed = crashedWhileStarting as Error | undefined;
          if (crashed) throw crashed;
          logger.info({ attempt }, 'consumer started again');
          return;
        } catch (err) {
          if (classify(err) === 'fatal') throw err;
          logger.warn({ err, attempt }, 'consumer did not start again yet');
          await consumer.disconnect().catch(() => undefined);
        }
      }
    })()
      .catch(fail)
      .finally(() => (restarting = false));
  });
}
