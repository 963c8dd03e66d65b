/**
 * The one backoff policy (lib/backoff.ts): delays grow with full jitter under their cap, and
 * withRetries (the importer's restarts from its checkpoint) retries only what it is told to,
 * as often as it is told to, and gives up its pause when stopped.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { batchRetryDelay, withRetries } from '../../lib/backoff.ts';
import { PermitflowError } from '../../lib/errors.ts';

test('batch retry delays stay under a third of the session timeout and under 10 s', () => {
  for (let attempt = 1; attempt <= 20; attempt++) {
    assert.ok(batchRetryDelay(attempt, 6_000) <= 2_000);
    assert.ok(batchRetryDelay(attempt, 120_000) <= 10_000);
  }
  // Full jitter: the first attempt waits at most 400 ms.
  assert.ok(Array.from({ length: 50 }, () => batchRetryDelay(1, 120_000)).every((d) => d >= 0 && d <= 400));
});

test('withRetries retries a retriable failure up to `retries` times, then throws it', async () => {
  const attempts: number[] = [];
  const delays: number[] = [];
  const failure = PermitflowError.retriable('PF_READ_TIMEOUT', 'broker away');
  await assert.rejects(
    withRetries(
      (attempt) => {
        attempts.push(attempt);
        return Promise.reject(failure);
      },
      { retries: 2, retriable: () => true, sessionTimeoutMs: 30, onRetry: (_err, _attempt, delayMs) => delays.push(delayMs) },
    ),
    (err) => err === failure,
  );
  assert.deepEqual(attempts, [1, 2, 3]);
  assert.equal(delays.length, 2);
  assert.ok(delays.every((d) => d <= 10));
});

test('withRetries returns the first success and throws a failure it may not retry at once', async () => {
  let calls = 0;
  assert.equal(await withRetries((attempt) => (++calls, attempt < 3 ? Promise.reject(new Error('transient')) : Promise.resolve('done')), { retries: 5, retriable: () => true, sessionTimeoutMs: 3 }), 'done');
  assert.equal(calls, 3);

  calls = 0;
  const bug = new TypeError('a bug');
  await assert.rejects(withRetries(() => (++calls, Promise.reject(bug)), { retries: 5, retriable: (err) => !(err instanceof TypeError), sessionTimeoutMs: 3 }), (err) => err === bug);
  assert.equal(calls, 1);
});

test('a stop during the pause between attempts throws the last failure: no attempt runs after it', async () => {
  const stop = new AbortController();
  let calls = 0;
  const failure = new Error('still failing');
  await assert.rejects(
    withRetries(
      () => {
        calls++;
        return Promise.reject(failure);
      },
      { retries: 5, retriable: () => true, sessionTimeoutMs: 300_000, signal: stop.signal, onRetry: () => stop.abort() },
    ),
    (err) => err === failure,
  );
  assert.equal(calls, 1);
});
