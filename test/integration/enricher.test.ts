/**
 * The enricher on the real stack, against fixture servers that speak ArcGIS REST and SODA:
 * happy path with provenance; transient failures through the retry topics; exhausted retries
 * and unreadable payloads in the DLQ with their cause; an open breaker pausing the input and
 * resuming after its probe; exactly one `enriched` per submission across a SIGKILL.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import { canonicalPayload, sha256Hex } from '../../domain/hashing.ts';
import type { Config } from '../../lib/config.ts';
import { createKafka } from '../../lib/kafka.ts';
import { createLogger } from '../../lib/logger.ts';
import { runtimeMetrics } from '../../processors/runtime/metrics.ts';
import { createRegistry, createSerde } from '../../schemas/serde.ts';
import type { DeadLetter, PermitApplication, SubmissionChunked, SubmissionEnriched } from '../../schemas/types.ts';
import type { Topology } from '../../topology/topics.ts';
import { startLookupsHarness } from '../fixtures/lookups/harness.ts';
import type { RecordedRequest } from '../fixtures/lookups/fixture-server.ts';
import { readAll, spawnProcessor, waitFor, startStages } from '../support/pipeline.ts';
import { sampleApplications } from '../support/samples.ts';
import { testTopology } from '../support/stack.ts';

const logger = createLogger({ level: 'warn' });
const PARCEL_QUERY = /\/Parcels\/FeatureServer\/0\/query$/;
/** Short retry delays and a breaker that stays out of the way unless a test wants it. */
const FAST = { PERMITFLOW_RETRY_DELAYS_MS: '300,300,300', LOOKUPS_BREAKER_MIN_REQUESTS: '100000', PERMITFLOW_SESSION_TIMEOUT_MS: '6000' };

function chunked(application: PermitApplication, n: number, inline?: Buffer): SubmissionChunked {
  const payload = canonicalPayload({ ...application, sourceReference: `${application.sourceReference ?? 'APP'}-${n}` });
  const bytes = inline ?? payload.bytes;
  return {
    header: { submissionHash: payload.hash, state: 'chunked', batchId: 'batch-1', idempotencyKey: 'ab'.repeat(32), at: Date.now(), workerId: 'test', attempt: 1, traceparent: null },
    batchSize: 1,
    sourceReference: null,
    receivedAt: Date.now(),
    payload: { contentType: 'application/json', size: bytes.length, sha256: sha256Hex(bytes), inline: bytes, objectKey: null },
    attachments: [],
  };
}

async function produceChunked(config: Config, topology: Topology, records: SubmissionChunked[]): Promise<void> {
  const kafka = createKafka(config, logger);
  const serde = createSerde(createRegistry(config));
  const producer = kafka.producer();
  await producer.connect();
  const messages = await Promise.all(records.map(async (r) => ({ key: r.header.submissionHash, value: await serde.encode(topology.topics.chunked, r) })));
  for (let i = 0; i < messages.length; i += 200) await producer.send({ topic: topology.topics.chunked.name, messages: messages.slice(i, i + 200) });
  await producer.disconnect();
}


const countOn = async (config: Config, topology: Topology, id: 'enriched' | 'dlq' | 'retryEnrich1', n: number) =>
  waitFor(`${n} records on ${id}`, async () => (await readAll(config, topology, id)).length >= n, 120_000, 300);

test('every submission is enriched with parcel, zoning, overlays, fees and history, with provenance', async (t) => {
  const harness = await startLookupsHarness(t, FAST);
  const topology = await testTopology(t, harness.config);
  const records = sampleApplications().map((a, n) => chunked(a, n));
  await produceChunked(harness.config, topology, records);
  await startStages(t, harness.config, ['enricher']);
  await countOn(harness.config, topology, 'enriched', records.length);

  const enriched = await readAll<SubmissionEnriched>(harness.config, topology, 'enriched');
  assert.equal(enriched.length, records.length);
  for (const r of enriched) {
    assert.equal(r.value.header.state, 'enriched');
    assert.equal(r.value.header.batchId, 'batch-1', 'the batch id travels on');
    assert.deepEqual(r.value.lookups.map((l) => l.lookup), ['parcel', 'zoning', 'overlays', 'fees', 'history']);
    for (const l of r.value.lookups) {
      assert.ok(l.source.length > 0 && l.fetchedAt > 0 && l.attempt >= 1, `provenance of ${l.lookup}`);
    }
  }
  const first = enriched.find((r) => r.key === records[0]!.header.submissionHash)!;
  assert.equal(first.value.lookups[0]!.outcome, 'found');
  assert.match(first.value.lookups[0]!.data ?? '', /17-04-22-00-01400/);
});

test('a transient failure that outlasts in-process retries goes through retry.enrich.1 and then succeeds', async (t) => {
  const harness = await startLookupsHarness(t, FAST);
  const topology = await testTopology(t, harness.config);
  // One more failure than the in-process retries allow (LOOKUPS_RETRIES=3 in the harness).
  harness.arcgis.inject({ kind: 'status', status: 503 }, { times: 4, path: PARCEL_QUERY });
  const record = chunked(sampleApplications()[0]!, 1);
  await produceChunked(harness.config, topology, [record]);
  await startStages(t, harness.config, ['enricher']);
  await countOn(harness.config, topology, 'enriched', 1);

  const retried = await readAll<SubmissionChunked>(harness.config, topology, 'retryEnrich1');
  assert.equal(retried.length, 1);
  assert.equal(retried[0]!.value.header.attempt, 2);
  assert.ok(Number(retried[0]!.headers['permitflow-first-failure-at']) > 0);
  const [enriched] = await readAll<SubmissionEnriched>(harness.config, topology, 'enriched');
  assert.equal(enriched!.value.header.attempt, 2, 'enriched on the second attempt');
  assert.ok(Number(enriched!.timestamp) - Number(retried[0]!.timestamp) >= 300, 'not before the retry delay');
});

test('exhausted retries and an unreadable payload land in the DLQ with the cause', async (t) => {
  const harness = await startLookupsHarness(t, FAST);
  const topology = await testTopology(t, harness.config);
  const failing = chunked(sampleApplications()[1]!, 1);
  harness.arcgis.inject({ kind: 'status', status: 503 }, { path: PARCEL_QUERY });
  const unreadable = chunked(sampleApplications()[2]!, 2, Buffer.from('{"site": '));
  await produceChunked(harness.config, topology, [failing, unreadable]);
  await startStages(t, harness.config, ['enricher']);
  await countOn(harness.config, topology, 'dlq', 2);

  const letters = (await readAll<DeadLetter>(harness.config, topology, 'dlq')).map((r) => r.value);
  const exhausted = letters.find((l) => l.submissionHash === failing.header.submissionHash)!;
  assert.equal(exhausted.errorClass, 'PF_LOOKUP_EXHAUSTED');
  assert.equal(exhausted.stage, 'enricher');
  assert.equal(exhausted.batchId, 'batch-1', 'the letter names the batch of its record');
  assert.equal(exhausted.attempt, 4, 'chunked plus three retry topics');
  assert.equal(exhausted.originalTopic, topology.topics.retryEnrich3.name);
  assert.ok(exhausted.firstFailureAt < exhausted.lastFailureAt);
  assert.ok(exhausted.errorChain.filter((e) => e.startsWith('PF_LOOKUP_FAILED')).length >= 4, exhausted.errorChain.join('\n'));
  const bad = letters.find((l) => l.submissionHash === unreadable.header.submissionHash)!;
  assert.equal(bad.errorClass, 'PF_PAYLOAD_UNREADABLE');
  assert.equal(bad.originalTopic, topology.topics.chunked.name);
  assert.equal((await readAll(harness.config, topology, 'enriched')).length, 0);
});

test('an open breaker pauses the input, and a good half-open probe resumes it', async (t) => {
  const harness = await startLookupsHarness(t, { ...FAST, LOOKUPS_BREAKER_MIN_REQUESTS: '3', LOOKUPS_BREAKER_RESET_MS: '1500', LOOKUPS_RETRIES: '0' });
  const topology = await testTopology(t, harness.config);
  harness.arcgis.inject({ kind: 'status', status: 503 }, { path: PARCEL_QUERY });
  const records = Array.from({ length: 30 }, (_, n) => chunked(sampleApplications()[n % 5]!, n));
  await produceChunked(harness.config, topology, records);
  await startStages(t, harness.config, ['enricher']);

  const paused = async () => (await runtimeMetrics.pausedPartitions.get()).values.find((v) => v.labels.processor === 'enricher')?.value ?? 0;
  const isProbe = (r: RecordedRequest): boolean => r.query.get('where') === '1=0';
  const lookups = () => harness.arcgis.count((r) => PARCEL_QUERY.test(r.path) && !isProbe(r));
  const failedProbes = () => harness.arcgis.count((r) => PARCEL_QUERY.test(r.path) && isProbe(r) && r.status === 503);
  await waitFor('the input to pause', async () => (await paused()) > 0, 60_000, 50);
  // Each half-open probe meets the failing API: the breaker opens again and the input stays
  // paused. Counted from one failed probe to the next (a whole reset period): lookups already
  // queued in the connection pool when the breaker opened have reached the API by then.
  const failedBefore = failedProbes();
  await waitFor('a half-open probe to fail', () => failedProbes() > failedBefore, 60_000, 50);
  const lookupsAfterProbe = lookups();
  const failedAfterProbe = failedProbes();
  await waitFor('the next probe to fail too', () => failedProbes() > failedAfterProbe, 60_000, 50);
  assert.equal(lookups(), lookupsAfterProbe, 'while the breaker is open only its probes reach the API');
  assert.ok((await paused()) > 0, 'still paused after the failed probes');
  harness.arcgis.heal();
  await waitFor('the input to resume', async () => (await paused()) === 0, 60_000, 50);
  await waitFor('every submission enriched', async () => (await readAll(harness.config, topology, 'enriched')).length === records.length, 60_000, 500);

  const enriched = await readAll<SubmissionEnriched>(harness.config, topology, 'enriched');
  assert.equal(new Set(enriched.map((r) => r.key)).size, records.length, 'each exactly once');
});

test('SIGKILL mid-run: exactly one enriched record per submission after the restart', async (t) => {
  const harness = await startLookupsHarness(t, FAST);
  const topology = await testTopology(t, harness.config);
  harness.arcgis.setLatency(5);
  const records = Array.from({ length: 300 }, (_, n) => chunked(sampleApplications()[n % 5]!, n));
  await produceChunked(harness.config, topology, records);
  const env = { ...harness.env, ...FAST, LOG_LEVEL: 'warn', ENRICHER_CONCURRENCY: '8' };
  const first = spawnProcessor(t, 'enricher', env);
  await waitFor('a third enriched', async () => (await readAll(harness.config, topology, 'enriched')).length >= 100, 120_000, 200);
  first.kill('SIGKILL');
  await once(first, 'exit');
  spawnProcessor(t, 'enricher', env);
  await countOn(harness.config, topology, 'enriched', records.length);

  const enriched = await readAll<SubmissionEnriched>(harness.config, topology, 'enriched');
  const perKey = new Map<string, number>();
  for (const r of enriched) perKey.set(r.key!, (perKey.get(r.key!) ?? 0) + 1);
  assert.equal(perKey.size, records.length, 'every submission enriched');
  assert.deepEqual([...perKey.values()].filter((n) => n > 1), [], 'none twice');
});
