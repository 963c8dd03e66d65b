import assert from 'node:assert/strict';
import { test } from 'node:test';
import { breakerOpen, endpointOf, LOOKUP_ERRORS, parseRetryAfter, statusError, transportError } from '../../connectors/lookups/http/errors.ts';
import { withDefaultFreshness } from '../../connectors/lookups/http/response-cache.ts';
import { withRetries } from '../../connectors/lookups/http/retry.ts';
import { PermitflowError } from '../../lib/errors.ts';

const target = { api: 'parcels' as const, url: new URL('http://gis.example/arcgis/rest/services/P/FeatureServer/0/query?where=SITUS_ADDRESS%3D%271%20Main%20St%27') };
const live = new AbortController().signal;

test('Retry-After is read as seconds or as an HTTP date', () => {
  assert.equal(parseRetryAfter('2'), 2000);
  assert.equal(parseRetryAfter(['1']), 1000);
  const now = Date.parse('2026-11-29T10:00:00Z');
  assert.equal(parseRetryAfter('Sun, 29 Nov 2026 10:00:03 GMT', now), 3000);
  assert.equal(parseRetryAfter('soon'), undefined);
  assert.equal(parseRetryAfter(undefined), undefined);
});

test('statuses: 429 and 5xx are transient, other 4xx permanent; messages carry no query string', () => {
  const throttled = statusError(target, 429, 1000);
  assert.equal(throttled.code, LOOKUP_ERRORS.throttled);
  assert.equal(throttled.retriable, true);
  assert.equal(throttled.context.retryAfterMs, 1000);
  assert.equal(statusError(target, 503, undefined).code, LOOKUP_ERRORS.unavailable);
  const rejected = statusError(target, 404, undefined);
  assert.equal(rejected.retriable, false);
  assert.doesNotMatch(rejected.message, /Main/);
  assert.equal(endpointOf(target.url), 'http://gis.example/arcgis/rest/services/P/FeatureServer/0/query');
});

test('transport errors: timeouts and network failures are transient, a bug stays a bug', () => {
  assert.equal(transportError(target, Object.assign(new Error('headers'), { code: 'UND_ERR_HEADERS_TIMEOUT' }), live).code, LOOKUP_ERRORS.timeout);
  assert.equal(transportError(target, Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }), live).code, LOOKUP_ERRORS.network);
  const deadline = AbortSignal.abort(new DOMException('deadline', 'TimeoutError'));
  assert.equal(transportError(target, new Error('aborted'), deadline).code, LOOKUP_ERRORS.timeout);
  assert.equal(transportError(target, new Error('aborted'), AbortSignal.abort()).code, LOOKUP_ERRORS.aborted);
  assert.throws(() => transportError(target, new TypeError('x is not a function'), live), TypeError);
});

test('a response that states no freshness gets the default TTL; one that does keeps its own', () => {
  assert.equal(withDefaultFreshness({}, 3_600_000)['cache-control'], 'max-age=3600');
  assert.equal(withDefaultFreshness({ 'cache-control': 'public' }, 60_000)['cache-control'], 'public, max-age=60');
  for (const cacheControl of ['max-age=5', 'no-store', 'no-cache', 'public, s-maxage=10']) {
    assert.equal(withDefaultFreshness({ 'cache-control': cacheControl }, 60_000)['cache-control'], cacheControl);
  }
  assert.equal(withDefaultFreshness({ expires: 'Sun, 29 Nov 2026 10:00:03 GMT' }, 60_000)['cache-control'], undefined);
});

const transient = (retryAfterMs?: number): PermitflowError => PermitflowError.retriable(LOOKUP_ERRORS.unavailable, 'down', { context: retryAfterMs === undefined ? {} : { retryAfterMs } });
const options = { retries: 3, baseDelayMs: 5, maxDelayMs: 20 };

test('withRetries retries transient failures and reports the attempt that succeeded', async () => {
  const seen: number[] = [];
  const result = await withRetries(options, Date.now() + 5000, live, (attempt) => {
    seen.push(attempt);
    return attempt < 3 ? Promise.reject(transient()) : Promise.resolve('answer');
  });
  assert.equal(result, 'answer');
  assert.deepEqual(seen, [1, 2, 3]);
});

test('withRetries gives up on permanent failures, open breakers and after the last retry', async () => {
  let calls = 0;
  const permanent = PermitflowError.permanent(LOOKUP_ERRORS.rejected, 'bad query');
  await assert.rejects(withRetries(options, Date.now() + 5000, live, () => (calls++, Promise.reject(permanent))), permanent);
  assert.equal(calls, 1);
  calls = 0;
  await assert.rejects(withRetries(options, Date.now() + 5000, live, () => (calls++, Promise.reject(breakerOpen('parcels')))), { code: LOOKUP_ERRORS.breakerOpen });
  assert.equal(calls, 1);
  calls = 0;
  await assert.rejects(withRetries(options, Date.now() + 5000, live, () => (calls++, Promise.reject(transient()))), { code: LOOKUP_ERRORS.unavailable });
  assert.equal(calls, 4, 'first attempt and three retries');
});

test('withRetries waits as long as Retry-After asks, and not at all when that is past the deadline', async () => {
  const times: number[] = [];
  await withRetries(options, Date.now() + 5000, live, (attempt) => {
    times.push(Date.now());
    return attempt === 1 ? Promise.reject(transient(120)) : Promise.resolve();
  });
  assert.ok(times[1]! - times[0]! >= 115, `waited ${times[1]! - times[0]!} ms`);

  let calls = 0;
  const started = Date.now();
  // Retry-After 10 s against a 5 s deadline: it gives up at once, not when the deadline passes
  // (half of it is the bound, so a busy machine cannot fail the test).
  await assert.rejects(withRetries(options, Date.now() + 5000, live, () => (calls++, Promise.reject(transient(10_000)))), { code: LOOKUP_ERRORS.unavailable });
  assert.equal(calls, 1);
  assert.ok(Date.now() - started < 2500, `gave up after ${Date.now() - started} ms`);
});
