/**
 * Smoke test of the foundation against the real stack: every service answers, the registry
 * serde round-trips an envelope through the raw topic, the object store writes once, and the
 * registry enforces BACKWARD compatibility.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { Redis } from 'ioredis';
import pg from 'pg';
import { canonicalPayload } from '../../domain/hashing.ts';
import { storePayload } from '../../connectors/claim-check.ts';
import { createObjectStore } from '../../connectors/object-store.ts';
import { createRawProducer } from '../../connectors/raw-topic.ts';
import { readTopic } from '../../connectors/topic-reader.ts';
import { PermitflowError } from '../../lib/errors.ts';
import { createKafka } from '../../lib/kafka.ts';
import { createLogger } from '../../lib/logger.ts';
import { loadSchema } from '../../schemas/index.ts';
import { createRegistry, createSerde } from '../../schemas/serde.ts';
import type { SubmissionEnvelope } from '../../schemas/types.ts';
import { applyTopology } from '../../topology/apply.ts';
import { buildTopology } from '../../topology/topics.ts';
import { sampleApplications, sampleEnvelope } from '../support/samples.ts';
import { testConfig, testTopology } from '../support/stack.ts';

const logger = createLogger({ level: 'warn' });

test('an Avro envelope produced to the raw topic is consumed back decoded through the registry', async (t) => {
  const config = await testConfig();
  const topology = await testTopology(t, config);
  const kafka = createKafka(config, logger);
  const serde = createSerde(createRegistry(config));

  const envelopes = sampleApplications().map((a) => sampleEnvelope(a));
  const producer = await createRawProducer(kafka, serde, topology.topics.raw);
  await producer.send(envelopes);
  await producer.close();

  const records = await readTopic<SubmissionEnvelope>(kafka, serde, topology.topics.raw);
  assert.equal(records.length, envelopes.length);
  for (const envelope of envelopes) {
    const record = records.find((r) => r.key === envelope.submissionHash);
    assert.ok(record, `envelope ${envelope.submissionHash} not read back`);
    // Decoded records are avsc record instances; compare their data. Optional fields the
    // producer left out come back as their schema default (null).
    assert.deepEqual(JSON.parse(JSON.stringify(record.value)), JSON.parse(JSON.stringify({ applicationDocument: null, extraction: null, ...envelope })));
    assert.equal(record.headers.traceparent, envelope.traceparent);
  }
  // Keyed by hash with the Java-compatible partitioner: the same hash always lands on the same partition.
  const again = records.filter((r) => r.key === envelopes[0]!.submissionHash);
  assert.equal(new Set(again.map((r) => r.partition)).size, 1);
});

test('the wire format names the registered schema id', async (t) => {
  const config = await testConfig();
  const topology = await testTopology(t, config);
  const serde = createSerde(createRegistry(config));
  const bytes = await serde.encode(topology.topics.raw, sampleEnvelope());
  assert.equal(bytes[0], 0, 'magic byte');
  const id = await serde.registry.getLatestSchemaId(topology.topics.raw.subject);
  assert.equal(bytes.readInt32BE(1), id);
  await assert.rejects(serde.decode(topology.topics.raw, Buffer.from('{"not":"avro"}')), (err: unknown) => err instanceof PermitflowError && err.code === 'PF_DECODE_FAILED');
});

test('schema evolution: a BACKWARD-compatible change registers, an incompatible one is refused', async (t) => {
  const config = await testConfig();
  const topology = await testTopology(t, config);
  const serde = createSerde(createRegistry(config));
  const subject = topology.topics.raw.subject;
  const current = loadSchema('SubmissionEnvelope').json as { fields: unknown[] };

  const withOptionalField = { ...current, fields: [...current.fields, { name: 'channel', type: ['null', 'string'], default: null }] };
  const evolvedId = await serde.register(subject, withOptionalField);
  assert.ok(evolvedId > 0);

  const withRequiredField = { ...current, fields: [...current.fields, { name: 'priority', type: 'int' }] };
  await assert.rejects(serde.register(subject, withRequiredField), (err: unknown) => {
    assert.ok(err instanceof PermitflowError, String(err));
    assert.equal(err.code, 'PF_SCHEMA_INCOMPATIBLE');
    assert.match(err.message, /not BACKWARD-compatible/);
    return true;
  });
});

test('topology apply is idempotent and refuses a partition-count mismatch, naming both counts', async (t) => {
  const config = await testConfig();
  const topology = await testTopology(t, config);
  const kafka = createKafka(config, logger);
  const admin = kafka.admin();
  await admin.connect();
  t.after(() => admin.disconnect());
  const serde = createSerde(createRegistry(config));

  const second = await applyTopology(topology, admin, serde);
  assert.deepEqual(second.created, []);
  assert.deepEqual(second.updated, []);
  assert.equal(second.unchanged.length, Object.keys(topology.topics).length + topology.changelogs.length);

  const wider = buildTopology({ ...config.topology, partitions: 5 });
  await assert.rejects(applyTopology(wider, admin, serde), /topic t\w+\.submissions\.raw exists with 3 partitions but the topology declares 5/);
});

test('object store: a content-addressed put writes once and reads back', async () => {
  const config = await testConfig();
  const store = createObjectStore(config);
  try {
    await store.ping();
    const payload = canonicalPayload({ ...sampleApplications()[0], description: `large ${randomBytes(8).toString('hex')} `.repeat(5000) });
    const ref = await storePayload(store, payload, 64 * 1024);
    assert.equal(ref.objectKey, `raw/${payload.hash}`);
    assert.equal(ref.inline, null);
    assert.deepEqual(await store.get(ref.objectKey), payload.bytes);
    // A second put of the same key is refused by the store, never overwritten.
    assert.equal(await store.putIfAbsent(ref.objectKey, Buffer.from('tampered'), { contentType: 'application/json' }), 'exists');
    assert.deepEqual(await store.get(ref.objectKey), payload.bytes);
  } finally {
    store.close();
  }
});

test('redis round trip', async () => {
  const config = await testConfig();
  const redis = new Redis(config.redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  try {
    const key = `permitflow:test:${randomBytes(6).toString('hex')}`;
    assert.equal(await redis.set(key, 'v1', 'PX', 5000, 'NX'), 'OK');
    assert.equal(await redis.set(key, 'v2', 'PX', 5000, 'NX'), null, 'NX refuses a second writer');
    assert.equal(await redis.get(key), 'v1');
    await redis.del(key);
  } finally {
    redis.disconnect();
  }
});

test('postgres round trip in a transaction', async () => {
  const config = await testConfig();
  const db = new pg.Client({ connectionString: config.database.url });
  await db.connect();
  try {
    await db.query('begin');
    await db.query('create temp table smoke (id int primary key, note text) on commit drop');
    await db.query('insert into smoke values ($1, $2)', [1, 'permit']);
    const { rows } = await db.query<{ note: string }>('select note from smoke where id = 1');
    assert.equal(rows[0]?.note, 'permit');
    await db.query('commit');
  } finally {
    await db.end();
  }
});
