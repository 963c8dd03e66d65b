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
