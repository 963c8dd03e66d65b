/**
 * How the lookups behave when the APIs have bad days: transient failures retried in process,
 * Retry-After honoured, hangs cut by the timeout and classified retriable, refused queries
 * permanent, and a circuit breaker that opens, probes by itself and closes again.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LOOKUP_ERRORS, type BreakerEvent } from '../../connectors/lookups/index.ts';
import { classify, errorChain, PermitflowError } from '../../lib/errors.ts';
import type { PermitApplication } from '../../schemas/types.ts';
import { startLookupsHarness } from '../fixtures/lookups/harness.ts';
import { sampleApplications } from '../support/samples.ts';

const application = sampleApplications()[0] as PermitApplication;
const PARCEL_QUERY = /\/Parcels\/FeatureServer\/0\/query$/;
const isParcelQuery = (q: { path: string }): boolean => PARCEL_QUERY.test(q.path);

function assertLookupError(err: unknown, code: string, retriable: boolean): PermitflowError {
  assert.ok(err instanceof PermitflowError, String(err));
  assert.equal(err.code, code, errorChain(err).join(' <- '));
  assert.equal(err.retriable, retriable);
  return err;
}

test('a transient 503 is retried in process and the lookup succeeds', async (t) => {
  const harness = await startLookupsHarness(t);
  harness.arcgis.inject({ kind: 'status', status: 503 }, { times: 2, path: PARCEL_QUERY });
  const lookups = await harness.lookups();

  const [parcel] = await lookups.lookupAll(application);
  assert.equal(parcel?.outcome, 'found');
  assert.equal(parcel?.attempt, 3, 'the third attempt got the answer');
  assert.deepEqual(harness.arcgis.requests.filter(isParcelQuery).map((q) => q.status), [503, 503, 200]);
});

test('a 429 with Retry-After is honoured before the next attempt', async (t) => {
  const harness = await startLookupsHarness(t);
  harness.arcgis.inject({ kind: 'status', status: 429, retryAfter: '1' }, { times: 1, path: PARCEL_QUERY });
  const lookups = await harness.lookups();

  const [parcel] = await lookups.lookupAll(application);
  assert.equal(parcel?.outcome, 'found');
  const [throttled, retried] = harness.arcgis.requests.filter(isParcelQuery);
  assert.equal(throttled?.status, 429);
  assert.equal(retried?.status, 200);
  // Backoff alone would be at most 20 ms here (LOOKUPS_RETRY_BASE_MS in the harness).
  assert.ok(retried.at - throttled.at >= 995, `waited ${Math.round(retried.at - throttled.at)} ms, Retry-After asked 1000`);
});

test('a hung API hits the headers timeout, and what outlasts the retries is retriable', async (t) => {
  const harness = await startLookupsHarness(t, { LOOKUPS_HEADERS_TIMEOUT_MS: '250', LOOKUPS_RETRIES: '1', LOOKUPS_DEADLINE_MS: '10000' });
  harness.arcgis.inject({ kind: 'hang' }, { path: PARCEL_QUERY });
  const lookups = await harness.lookups();

  const started = Date.now();
  const err = await lookups.lookupAll(application).then(
    () => assert.fail('a hung API cannot answer'),
    (e: unknown) => e,
  );
  const failure = assertLookupError(err, LOOKUP_ERRORS.failed, true);
  assert.equal(classify(failure), 'retry', 'the processor routes it to the retry topics');
  assert.equal((failure.cause as PermitflowError).code, LOOKUP_ERRORS.timeout);
  assert.match(errorChain(failure)[1]!, /UND_ERR_HEADERS_TIMEOUT/);
  assert.equal(failure.context.lookup, 'parcel');
  assert.equal(harness.arcgis.count(isParcelQuery), 2, 'first attempt and one retry');
  // undici checks these timeouts on a clock of about one second, so each attempt ends within ~1 s.
  assert.ok(Date.now() - started < 5000, 'the headers timeout, not the 10 s deadline, ended each attempt');
});

test('an ArcGIS error object in a 200 is retried when 5xx and dead-lettered when a refused query', async (t) => {
  const harness = await startLookupsHarness(t);
  const lookups = await harness.lookups();

  harness.arcgis.inject({ kind: 'body', status: 200, body: { error: { code: 500, message: 'Error performing query operation', details: [] } } }, { times: 1, path: PARCEL_QUERY });
  const [parcel] = await lookups.lookupAll(application);
  assert.equal(parcel?.outcome, 'found');
  assert.equal(parcel?.attempt, 2);

  const zoningQueries = (q: { path: string }): boolean => q.path.endsWith('/Zoning/FeatureServer/0/query');
  const zoningBefore = harness.arcgis.count(zoningQueries);
  harness.arcgis.inject({ kind: 'body', status: 200, body: { error: { code: 400, message: 'Unable to complete operation.', details: ['Invalid query'] } } }, { path: /\/Zoning\/FeatureServer\/0\/query$/ });
  const err = await lookups.lookupAll(sampleApplications()[1]!).then(
    () => assert.fail('a refused query cannot answer'),
    (e: unknown) => e,
  );
  const failure = assertLookupError(err, LOOKUP_ERRORS.failed, false);
  assert.equal(classify(failure), 'dead-letter');
  assert.equal((failure.cause as PermitflowError).code, LOOKUP_ERRORS.rejected);
  assert.equal(harness.arcgis.count(zoningQueries) - zoningBefore, 1, 'a refused query is not retried');
  assert.equal(lookups.breakerStates().zoning, 'closed', 'a refused query says nothing about the API health');
});

test('the breaker opens under failures, refuses without calling the API, and closes after a good half-open probe', async (t) => {
  const harness = await startLookupsHarness(t, { LOOKUPS_RETRIES: '0', LOOKUPS_BREAKER_MIN_REQUESTS: '2', LOOKUPS_BREAKER_ERROR_PERCENT: '50', LOOKUPS_BREAKER_RESET_MS: '300' });
  const lookups = await harness.lookups();
  const events: BreakerEvent[] = [];
  const unsubscribe = lookups.onBreakerChange((event) => events.push(event));
  t.after(unsubscribe);
  const parcelApi = (q: { path: string }): boolean => q.path.includes('/Parcels/');
  harness.arcgis.inject({ kind: 'status', status: 503 }, { path: /\/Parcels\// });

  for (let i = 0; i < 2; i++) {
    const err = await lookups.lookupAll(application).then(() => assert.fail('the API is down'), (e: unknown) => e);
    assertLookupError(err, LOOKUP_ERRORS.failed, true);
  }
  assert.deepEqual(events.map((e) => [e.api, e.state]), [['parcels', 'open']]);
  assert.equal(lookups.breakerStates().parcels, 'open');

  const requestsWhileOpen = harness.arcgis.count(parcelApi);
  const refused = await lookups.lookupAll(application).then(() => assert.fail('the breaker is open'), (e: unknown) => e);
  assertLookupError(refused, LOOKUP_ERRORS.breakerOpen, true);
  assert.equal(harness.arcgis.count(parcelApi), requestsWhileOpen, 'an open breaker sends nothing');

  // The first probe meets the still-failing API and the breaker opens again.
  await harness.arcgis.waitUntil(() => events.filter((e) => e.state === 'open').length === 2);
  assert.deepEqual(events.map((e) => e.state), ['open', 'halfOpen', 'open']);

  harness.arcgis.heal();
  await harness.arcgis.waitUntil(() => events.at(-1)?.state === 'closed');
  assert.deepEqual(events.map((e) => e.state), ['open', 'halfOpen', 'open', 'halfOpen', 'closed']);
  const probes = harness.arcgis.requests.filter((q) => q.path.endsWith('/Parcels/FeatureServer/0/query') && q.query.get('where') === '1=0');
  assert.deepEqual(probes.map((q) => q.status), [503, 200], 'the breaker probed the query path with an empty count');

  const [parcel] = await lookups.lookupAll(application);
  assert.equal(parcel?.outcome, 'found');
  assert.equal(lookups.breakerStates().parcels, 'closed');
});
