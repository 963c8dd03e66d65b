/**
 * Observability on the real stack, end to end: applications POSTed to the intake run through
 * every stage in this process with tracing on (an in-memory exporter), then
 *  - each submission is one trace: the intake's span, then one `process` span per stage, each
 *    the child of the hop before it, and the decision's `traceparent` names the decider's span;
 *  - the batch span links the spans of its members;
 *  - `GET /v1/submissions/{id}` answers with the decision once the read model has it;
 *  - `/metrics` counts exactly what flowed (records in and out per stage, decisions, end-to-end
 *    latency observations, lookups, batches), shows each group's lag and the process metrics.
 * And `permitflow run` serves its own endpoint, or processes on when its port is taken.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-node';
import { createApiKey } from '../../connectors/intake/api-keys.ts';
import { startIntake } from '../../connectors/intake/server.ts';
import { createLogger } from '../../lib/logger.ts';
import { serveMetrics } from '../../lib/observability/metrics.ts';
import { parseSamples } from '../../lib/observability/prometheus-text.ts';
import { startTracing, traceIdOf } from '../../lib/observability/tracing.ts';
import type { BatchManifest, StateHeader } from '../../schemas/types.ts';
import { startLookupsHarness } from '../fixtures/lookups/harness.ts';
import { produceSubmissions, readAll, spawnProcessor, startStages, waitFor } from '../support/pipeline.ts';
import { freePort } from '../support/ports.ts';
import { sampleApplications } from '../support/samples.ts';
import { testConfig, testTopology } from '../support/stack.ts';
import { readModelPool, uniqueSchema } from './read-model-helpers.ts';

// One process per test file: the tracer provider registered here is this file's alone.
const exporter = new InMemorySpanExporter();
const tracing = startTracing({ serviceName: 'permitflow-test', exporter });

test('each submission is one trace from the intake to its decision, and /metrics counts what flowed', async (t) => {
  t.after(() => tracing.shutdown());
  const keysFile = join(mkdtempSync(join(tmpdir(), 'permitflow-observability-')), 'api-keys.json');
  const harness = await startLookupsHarness(t, { INTAKE_API_KEYS_FILE: keysFile, READ_MODEL_SCHEMA: uniqueSchema(), WINDOW_MAX_COUNT: '3', WINDOW_MAX_AGE_MS: '1000', PERMITFLOW_SESSION_TIMEOUT_MS: '6000' });
  const { config } = harness;
  const topology = await testTopology(t, config);
  await readModelPool(t, config);
  const logger = createLogger({ level: 'warn' });
  const { key } = createApiKey(keysFile, { client: 'portal', scopes: ['submit', 'read'] });
  const intake = await startIntake(config, { logger, port: 0 });
  t.after(() => intake.close());
  const metrics = await serveMetrics({ host: '127.0.0.1', port: 0 }, logger);
  t.after(() => metrics.close());
  await startStages(t, config, ['windower', 'enricher', 'validator', 'decider', 'read-model']);

  // The first continues the caller's trace; the others start their own.
  const callerTrace = '4bf92f3577b34da6a3ce929d0e0e4736';
  const applications = sampleApplications().slice(0, 3);
  const hashes: string[] = [];
  for (const [n, application] of applications.entries()) {
    const response = await fetch(`${intake.url}/v1/submissions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...(n === 0 && { traceparent: `00-${callerTrace}-00f067aa0ba902b7-01` }) },
      body: JSON.stringify(application),
    });
    assert.equal(response.status, 202, await response.clone().text());
    hashes.push(((await response.json()) as { submissionId: string }).submissionId);
  }
  const decided = async () => [...(await readAll<{ header: StateHeader }>(config, topology, 'accepted')), ...(await readAll<{ header: StateHeader }>(config, topology, 'rejected'))];
  await waitFor('every submission decided', async () => (await decided()).length === hashes.length, 120_000, 250);

  // The status API answers with the decision once the read model has it (before, from the intake's receipt).
  for (const hash of hashes) {
    const decision = (await decided()).find((r) => r.key === hash)!.value.header.state;
    await waitFor(`GET ${hash.slice(0, 8)} to say ${decision}`, async () => {
      const response = await fetch(`${intake.url}/v1/submissions/${hash}`, { headers: { authorization: `Bearer ${key}` } });
      return ((await response.json()) as { status: string }).status === decision;
    }, 60_000, 250);
  }

  // Traces: intake → windower → enricher → validator → decider, parent to child.
  const spans = exporter.getFinishedSpans();
  const processSpan = (topic: string, hash: string): ReadableSpan => {
    const found = spans.filter((s) => s.name === `process ${topic}` && s.attributes['messaging.kafka.message.key'] === hash);
    assert.equal(found.length, 1, `one span processing ${hash.slice(0, 8)} from ${topic}`);
    return found[0]!;
  };
  const decisions = new Map((await decided()).map((r) => [r.key!, r]));
  for (const [n, hash] of hashes.entries()) {
    const intakeSpans = spans.filter((s) => s.name === 'POST /v1/submissions' && s.attributes['permitflow.submission.hash'] === hash);
    assert.equal(intakeSpans.length, 1, 'one intake span');
    let parent = intakeSpans[0]!;
    const traceId = parent.spanContext().traceId;
    if (n === 0) assert.equal(traceId, callerTrace, "the caller's trace is continued");
    for (const topic of ['raw', 'chunked', 'enriched', 'validated'] as const) {
      const span = processSpan(topology.topics[topic].name, hash);
      assert.equal(span.spanContext().traceId, traceId, `${topic}: same trace`);
      assert.equal(span.parentSpanContext?.spanId, parent.spanContext().spanId, `${topic}: child of the hop before`);
      assert.equal(span.attributes['messaging.system'], 'kafka');
      assert.equal(span.attributes['messaging.consumer.group.name'], topology.group(PROCESSOR_OF[topic]));
      parent = span;
    }
    const decision = decisions.get(hash)!;
    assert.equal(traceIdOf(decision.value.header.traceparent), traceId, 'the decision carries the trace');
    assert.equal(decision.value.header.traceparent!.split('-')[2], parent.spanContext().spanId, "the decision names the decider's span");
  }

  // The batch span links its members' windower spans, under the batch id the manifest names.
  const manifests = (await readAll<BatchManifest>(config, topology, 'batches')).map((r) => r.value);
  const batchSpans = spans.filter((s) => s.name === 'close batch');
  assert.equal(batchSpans.length, manifests.length, 'one span per closed batch');
  const rawTopic = topology.topics.raw.name;
  for (const manifest of manifests) {
    const span = batchSpans.find((s) => s.attributes['permitflow.batch.id'] === manifest.batchId)!;
    assert.ok(span, `a span for batch ${manifest.batchId}`);
    const linked = span.links.map((l) => l.context.spanId).sort();
    const members = spans.filter((s) => s.name === `process ${rawTopic}` && manifest.members.includes(String(s.attributes['messaging.kafka.message.key'])));
    assert.deepEqual(linked, members.map((s) => s.spanContext().spanId).sort(), 'links to every member');
  }

  // Metrics: counts equal what flowed through.
  const text = await (await fetch(metrics.url)).text();
  const sum = (name: string, labels: Record<string, string> = {}) =>
    parseSamples(text, name)
      .filter((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v))
      .reduce((total, s) => total + s.value, 0);
  const count = hashes.length;
  assert.equal(sum('permitflow_intake_accepted_total'), count);
  assert.equal(sum('permitflow_records_in_total', { processor: 'windower', topic: 'raw' }), count);
  assert.equal(sum('permitflow_records_out_total', { processor: 'windower', topic: 'received' }), count);
  assert.equal(sum('permitflow_records_out_total', { processor: 'enricher', topic: 'enriched' }), count);
  assert.equal(sum('permitflow_records_in_total', { processor: 'decider' }), count);
  const accepted = sum('permitflow_records_out_total', { processor: 'decider', topic: 'accepted' });
  const rejected = sum('permitflow_records_out_total', { processor: 'decider', topic: 'rejected' });
  assert.equal(accepted + rejected, count);
  assert.equal(sum('permitflow_end_to_end_seconds_count', { outcome: 'accepted' }), accepted);
  assert.equal(sum('permitflow_end_to_end_seconds_count', { outcome: 'rejected' }), rejected);
  assert.equal(sum('permitflow_batch_size_sum'), count, 'every submission in one closed batch');
  assert.equal(sum('permitflow_batches_closed_total'), manifests.length);
  assert.ok(sum('permitflow_lookup_request_duration_seconds_count', { api: 'parcels', outcome: 'ok' }) >= 1, 'parcel lookups timed');
  assert.ok(sum('permitflow_lookup_cache_total', { api: 'parcels' }) >= count, 'every parcel lookup asked the cache');
  assert.equal(parseSamples(text, 'permitflow_lookup_breaker_state').find((s) => s.labels.api === 'parcels')?.value, 0, 'breaker closed');
  assert.equal(sum('permitflow_in_flight_records'), 0);
  // Lag per group and partition, read from Kafka at scrape time.
  for (const processor of ['windower', 'enricher', 'validator', 'decider'] as const) {
    const group = topology.group(processor);
    assert.ok(parseSamples(text, 'permitflow_consumer_group_lag').some((s) => s.labels.group === group && s.labels.partition === '0'), `lag of ${processor}`);
  }
  assert.equal(sum('permitflow_consumer_group_lag', { group: topology.group('windower') }), 0, 'the windower has consumed every submission');
  for (const name of ['process_resident_memory_bytes', 'nodejs_heap_size_used_bytes', 'nodejs_eventloop_lag_p99_seconds']) {
    assert.ok(parseSamples(text, name).some((s) => s.value > 0), name);
  }
});

test('`permitflow run` serves /metrics with its group lag; with the port taken it says so and processes on', async (t) => {
  const config = await testConfig({ PERMITFLOW_SESSION_TIMEOUT_MS: '6000' });
  const topology = await testTopology(t, config);
  const env = { PERMITFLOW_TOPIC_NAMESPACE: config.topology.namespace, PERMITFLOW_PARTITIONS: '3', PERMITFLOW_SESSION_TIMEOUT_MS: '6000', LOG_LEVEL: 'warn' };
  const taken = createServer().listen(0, '127.0.0.1');
  await once(taken, 'listening');
  t.after(() => taken.close());
  const takenPort = String((taken.address() as { port: number }).port);
  const port = await freePort();

  const submissions = 20;
  await produceSubmissions(config, topology, submissions);
  let refusedLog = '';
  spawnProcessor(t, 'windower', { ...env, METRICS_PORT: takenPort, PERMITFLOW_WORKER_ID: 'no-metrics' }, { onOutput: (text) => (refusedLog += text) });
  spawnProcessor(t, 'validator', { ...env, METRICS_PORT: String(port) });

  // The windower processes without its endpoint and says why; the validator's endpoint reports its own lag.
  await waitFor('every submission received', async () => (await readAll(config, topology, 'received')).length === submissions, 60_000, 250);
  assert.match(refusedLog, /metrics endpoint not served/);
  const group = topology.group('validator');
  const scrape = async () => await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const lagOf = (text: string, of: string) => parseSamples(text, 'permitflow_consumer_group_lag').filter((s) => s.labels.group === of);
  await waitFor('the validator endpoint', async () => lagOf(await scrape(), group).length > 0, 60_000, 250);
  const text = await scrape();
  assert.deepEqual(
    lagOf(text, group).map((s) => s.labels.partition).sort(),
    ['0', '1', '2'],
    'one lag series per partition of its input',
  );
  assert.deepEqual(lagOf(text, topology.group('windower')), [], 'a process reports only the groups it runs');
  assert.ok(parseSamples(text, 'nodejs_eventloop_lag_p99_seconds').length > 0, 'process metrics');
});

const PROCESSOR_OF = { raw: 'windower', chunked: 'enricher', enriched: 'validator', validated: 'decider' } as const;
