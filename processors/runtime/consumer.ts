/**
 * The consumer settings and retry pacing every stage shares: the transactional runtime and the
 * read-model sink, which commits to PostgreSQL instead of Kafka.
 */
import { randomInt } from 'node:crypto';
import type { Consumer, Kafka } from 'kafkajs';
import { setTimeout as sleep } from 'node:timers/promises';

export interface StageConsumerOptions {
  maxBytesPerPartition: number;
  partitionsConcurrently: number;
  sessionTimeoutMs: number;
}

/** A read_committed consumer whose fetches are bounded per partition (bounded memory). */
export function createStageConsumer(kafka: Kafka, groupId: string, options: StageConsumerOptions): Consumer {
  return kafka.consumer({
    groupId,
    readUncommitted: false,
    maxBytesPerPartition: options.maxBytesPerPartition,
    maxBytes: options.maxBytesPerPartition * Math.max(options.partitionsConcurrently, 1) * 2,
    sessionTimeout: options.sessionTimeoutMs,
    rebalanceTimeout: 60_000,
    heartbeatInterval: Math.max(500, Math.floor(options.sessionTimeoutMs / 10)),
    allowAutoTopicCreation: false,
    retry: { retries: 10 },
  });
}

const RETRY_BASE_MS = 200;
const RETRY_MAX_MS = 10_000;

/**
 * Delay before retrying a failed batch: exponential with full jitter (spreads the retries of
 * many partitions hitting one broken dependency), capped below the session timeout because the
 * partition waits inside its batch handler.
 */
export function batchRetryDelay(attempt: number, sessionTimeoutMs: number): number {
  const exponential = randomInt(0, Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** Math.min(attempt, 10)) + 1);
  return Math.min(exponential, Math.floor(sessionTimeoutMs / 3));
}

/** Waits out a batch retry delay, or less: a stopping stage must not sit out the delay first. */
export async function retryPause(delayMs: number, signal: AbortSignal): Promise<void> {
  await sleep(delayMs, undefined, { signal }).catch(() => undefined);
}
