/**
 * The one backoff policy of the stages: exponential with full jitter, so the retries of many
 * partitions hitting one broken dependency spread out instead of arriving together.
 */
import { randomInt } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';

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

export interface RetryOptions {
  /** Retries after the first attempt (so at most `retries + 1` attempts). */
  retries: number;
  /** Whether a failure is worth another attempt; anything else is thrown at once. */
  retriable: (err: unknown) => boolean;
  /** Waits inside a session of this timeout (see batchRetryDelay: a third of it); none: up to 10 s. */
  sessionTimeoutMs?: number;
  /** A stop ends the pause and throws the last failure: the work was not resumed. */
  signal?: AbortSignal;
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
}

/** Runs `work` until it succeeds, with the stages' backoff between attempts (a whole job's restarts, say). */
export async function withRetries<T>(work: (attempt: number) => Promise<T>, options: RetryOptions): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work(attempt);
    } catch (err) {
      if (attempt > options.retries || !options.retriable(err) || options.signal?.aborted) throw err;
      const delayMs = batchRetryDelay(attempt, options.sessionTimeoutMs ?? Number.POSITIVE_INFINITY);
      options.onRetry?.(err, attempt, delayMs);
      await retryPause(delayMs, options.signal ?? new AbortController().signal);
      if (options.signal?.aborted) throw err;
    }
  }
}
