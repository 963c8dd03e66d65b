/**
 * In-process retries of one lookup request: exponential backoff with full jitter (cockatiel's
 * generator), except that a server's `Retry-After` sets the wait. Retries stop at the request
 * deadline, on a permanent failure, on an open breaker (the caller pauses instead) and when
 * the caller aborts. What outlasts them is the caller's to route (retry topics).
 */
import { ExponentialBackoff, fullJitterGenerator, handleWhen, retry, type IBackoffFactory, type IRetryBackoffContext } from 'cockatiel';
import { PermitflowError } from '../../../lib/errors.ts';
import { LOOKUP_ERRORS, retryAfterOf } from './errors.ts';

export interface RetryOptions {
  /** Retries after the first attempt. */
  retries: number;
  /** Cap of the first backoff; each later one doubles, up to `maxDelayMs`. */
  baseDelayMs: number;
  maxDelayMs: number;
}

type BackoffContext = IRetryBackoffContext<unknown>;

function honouringRetryAfter(inner: IBackoffFactory<unknown>, deadline: number): IBackoffFactory<BackoffContext> {
  return {
    next: (context) => {
      const step = inner.next(context);
      const asked = 'error' in context.result ? retryAfterOf(context.result.error) : undefined;
      const remaining = Math.max(0, deadline - Date.now());
      return { duration: Math.min(asked ?? step.duration, remaining), ...honouringRetryAfter(step, deadline) };
    },
  };
}

const NOT_RETRIED_IN_PROCESS: ReadonlySet<string> = new Set([LOOKUP_ERRORS.breakerOpen, LOOKUP_ERRORS.aborted, LOOKUP_ERRORS.rateLimited]);

/**
 * Runs `attempt` (numbered from 1) until it succeeds or retrying cannot help before `deadline`.
 * Rejects with the last attempt's error.
 */
export function withRetries<T>(options: RetryOptions, deadline: number, signal: AbortSignal, attempt: (attemptNumber: number) => Promise<T>): Promise<T> {
  const worthRetrying = (err: Error): boolean =>
    err instanceof PermitflowError &&
    err.retriable &&
    !NOT_RETRIED_IN_PROCESS.has(err.code) &&
    !signal.aborted &&
    (retryAfterOf(err) ?? 0) < deadline - Date.now();
  const backoff = new ExponentialBackoff({ generator: fullJitterGenerator, initialDelay: options.baseDelayMs, maxDelay: options.maxDelayMs });
  const policy = retry(handleWhen(worthRetrying), { maxAttempts: options.retries, backoff: honouringRetryAfter(backoff, deadline) });
  return policy.execute(({ attempt: retriesSoFar }) => attempt(retriesSoFar + 1), signal);
}
