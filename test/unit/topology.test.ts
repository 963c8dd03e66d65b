import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { SCHEMA_FILES } from '../../schemas/index.ts';
import { buildTopology, describeTopology, PROCESSORS, TOPICS, type TopicId } from '../../topology/topics.ts';

const options = { namespace: 'permits', partitions: 6, replicationFactor: 1, minCompactionLagMs: 604800000 };
const SNAPSHOT = join(import.meta.dirname, 'snapshots', 'topology.txt');

test('the topology description matches its snapshot (a rename shows up in review)', () => {
  const description = describeTopology(buildTopology(options)) + '\n';
  // UPDATE_SNAPSHOTS=1 make test-unit rewrites it after a deliberate change.
  if (process.env.UPDATE_SNAPSHOTS === '1') writeFileSync(SNAPSHOT, description);
  assert.equal(description, readFileSync(SNAPSHOT, 'utf8'));
});

test('DESIGN.md topic names and consumer groups', () => {
  const topology = buildTopology(options);
  assert.equal(topology.topics.raw.name, 'permits.submissions.raw');
  assert.equal(topology.topics.received.name, 'permits.state.received');
  assert.equal(topology.topics.retryEnrich2.name, 'permits.retry.enrich.2');
  assert.equal(topology.topics.dlq.name, 'permits.dlq');
  assert.equal(topology.group('windower'), 'permitflow.windower');
  assert.equal(buildTopology({ ...options, namespace: 't-1' }).group('windower'), 'permitflow.t-1.windower');
});

test('every topic is co-partitioned, has a known schema, and a cleanup policy with retention or compaction lag', () => {
  const topology = buildTopology(options);
  for (const spec of Object.values(topology.topics)) {
    assert.equal(spec.partitions, 6, spec.name);
    assert.ok(spec.schema in SCHEMA_FILES, spec.name);
    assert.equal(spec.subject, `${spec.name}-value`);
    if (spec.def.cleanup === 'compact') assert.equal(spec.config['min.compaction.lag.ms'], '604800000', spec.name);
    else assert.match(spec.config['retention.ms'] ?? '', /^\d+$/, spec.name);
  }
  // State topics are compacted, the raw topic and retries expire, the DLQ keeps a year.
  assert.equal(TOPICS.received.cleanup, 'compact');
  assert.equal(TOPICS.raw.cleanup, 'delete');
  assert.equal(topology.topics.dlq.config['retention.ms'], String(365 * 24 * 3600 * 1000));
});

test('the processor graph only names catalogued topics, and every state topic has a writer and a reader', () => {
  const writers = new Map<TopicId, string[]>();
  const readers = new Map<TopicId, string[]>();
  for (const [id, p] of Object.entries(PROCESSORS)) {
    for (const t of p.outputs) writers.set(t, [...(writers.get(t) ?? []), id]);
    for (const t of p.inputs) readers.set(t, [...(readers.get(t) ?? []), id]);
  }
  for (const t of [...writers.keys(), ...readers.keys()]) assert.ok(t in TOPICS, t);
  for (const t of ['received', 'chunked', 'enriched', 'validated', 'accepted', 'rejected', 'batches'] as TopicId[]) {
    assert.ok(writers.get(t)?.length, `${t} has no writer`);
    assert.ok(readers.get(t)?.length, `${t} has no reader`);
  }
  // The raw topic is written from outside the topology (intake, importer, agencies).
  assert.deepEqual(readers.get('raw'), ['windower']);
});
