/**
 * The archiver on the real stack: the windower's output (received, chunked, batch manifests,
 * written in transactions, so with control records between them) and a dead letter are
 * archived by `permitflow run archiver`, SIGKILLed twice while segments are open. Afterwards
 * every offset of every archived partition is in exactly one segment (no gap, no duplicate
 * range), `audit verify` passes, and `audit show` rebuilds a submission's history with Kafka,
 * the registry and PostgreSQL pointed at closed ports.
 */
import assert from 'node:assert/strict';
import { execFile, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { once } from 'node:events';
import { test } from 'node:test';
import kafkajs from 'kafkajs';
import { createAuditStore } from '../../connectors/audit/store.ts';
import { decodeSegment, parseManifest, parseManifestKey } from '../../connectors/audit/segment.ts';
import { archiveChains, verifyArchive } from '../../connectors/audit/verify.ts';
import { verifyingKey } from '../../connectors/audit/roots.ts';
import { REPO_ROOT } from '../../lib/config.ts';
import { createKafka } from '../../lib/kafka.ts';
import { createLogger } from '../../lib/logger.ts';
import { createRegistry, createSerde } from '../../schemas/serde.ts';
import { sampleRecords } from '../support/samples.ts';
import { produceSubmissions, readAll, spawnProcessor, startStages, waitFor } from '../support/pipeline.ts';
import { testConfig, testTopology } from '../support/stack.ts';
import type { DeadLetter } from '../../schemas/types.ts';

const SUBMISSIONS = 300;
const SETTINGS = { WINDOW_MAX_COUNT: '50', WINDOW_MAX_AGE_MS: '1000', PERMITFLOW_PARTITIONS: '3', PERMITFLOW_SESSION_TIMEOUT_MS: '6000' };
// Small segments, so a kill lands between many writes; age-closed at the end.
const ARCHIVER = { AUDIT_SEGMENT_MAX_RECORDS: '5', AUDIT_SEGMENT_MAX_AGE_MS: '1500', AUDIT_SEAL_INTERVAL_MS: '3000', LOG_LEVEL: 'warn' };
const CLOSED = { KAFKA_BROKERS: '127.0.0.1:9', SCHEMA_REGISTRY_URL: 'http://127.0.0.1:9/apis/ccompat/v7', DATABASE_URL: 'postgres://nobody@127.0.0.1:9/none', REDIS_URL: 'redis://127.0.0.1:9' };

/** `permitflow <args>` to its end: exit code and output. */
async function cli(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [join(REPO_ROOT, 'bin/permitflow.js'), ...args], { env: { ...process.env, ...env }, timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

async function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGKILL');
  await once(child, 'exit');
}

test('the archiver keeps every offset exactly once across SIGKILLs; verify passes; show needs only the archive', { timeout: 300_000 }, async (t) => {
  const config = await testConfig(SETTINGS);
  const topology = await testTopology(t, config);
  const store = createAuditStore(config);
  t.after(() => store.close());
  const env = { ...SETTINGS, ...ARCHIVER, PERMITFLOW_TOPIC_NAMESPACE: config.topology.namespace };

  const hashes = await produceSubmissions(config, topology, SUBMISSIONS);
  // A dead letter naming the first submission: the DLQ is archived too.
  const kafka = createKafka(config, createLogger({ level: 'warn' }));
  const serde = createSerde(createRegistry(config));
  const producer = kafka.producer({ createPartitioner: kafkajs.Partitioners.DefaultPartitioner });
  await producer.connect();
  const letter: DeadLetter = { ...(sampleRecords().DeadLetter as DeadLetter), submissionHash: hashes[0]! };
  await producer.send({ topic: topology.topics.dlq.name, messages: [{ key: hashes[0]!, value: await serde.encode(topology.topics.dlq, letter) }] });
  await producer.disconnect();
  await startStages(t, config, ['windower']);
  const admin = kafka.admin();
  await admin.connect();
  t.after(() => admin.disconnect());
  // Transaction markers take offsets too: the count is read once the end offsets say enough was written.
  await waitFor('the windower to chunk every submission', async () => (await admin.fetchTopicOffsets(topology.topics.chunked.name)).reduce((n, o) => n + Number(o.high), 0) >= SUBMISSIONS, 120_000, 250);
  await waitFor('every submission chunked', async () => (await readAll(config, topology, 'chunked')).length === SUBMISSIONS, 60_000, 1000);

  const chains = archiveChains(topology);
  const manifests = async () => (await Promise.all(chains.map((c) => store.list(c.prefix)))).flat().filter((k) => parseManifestKey(k) !== undefined).length;

  // Two archivers killed mid-run, then one that finishes.
  const counts: number[] = [];
  for (const atLeast of [8, 30]) {
    const child = spawnProcessor(t, 'archiver', env);
    await waitFor(`${atLeast} segments`, async () => (await manifests()) >= atLeast, 120_000, 50);
    await kill(child);
    counts.push(await manifests());
  }
  const last = spawnProcessor(t, 'archiver', env);

  // Every record Kafka holds on an archived topic, by partition and offset.
  const expected = new Map<string, Set<string>>();
  for (const id of ['received', 'chunked', 'batches', 'enriched', 'validated', 'accepted', 'rejected', 'dlq'] as const) {
    for (const r of await readAll(config, topology, id)) {
      const key = `${topology.topics[id].name}/${r.partition}`;
      expected.set(key, (expected.get(key) ?? new Set()).add(r.offset));
    }
  }
  const total = [...expected.values()].reduce((n, s) => n + s.size, 0);
  assert.equal(total, SUBMISSIONS * 2 + (await readAll(config, topology, 'batches')).length + 1);

  /** Offsets of each chain as archived, in order, duplicates kept. */
  const archived = async (): Promise<Map<string, string[]>> => {
    const found = new Map<string, string[]>();
    for (const chain of chains) {
      const offsets: string[] = [];
      for (const key of (await store.list(chain.prefix)).filter((k) => parseManifestKey(k) !== undefined)) {
        const manifest = parseManifest((await store.get(key))!, key);
        offsets.push(...decodeSegment((await store.get(manifest.segmentKey))!, manifest.segmentKey).map((l) => l.offset));
      }
      if (offsets.length > 0) found.set(`${chain.topic}/${chain.partition}`, offsets);
    }
    return found;
  };
  let found = new Map<string, string[]>();
  await waitFor('every record archived', async () => {
    found = await archived();
    return [...found.values()].reduce((n, o) => n + o.length, 0) >= total;
  }, 120_000, 500);
  await waitFor('a signed root', async () => (await store.list(`audit/_roots/${config.topology.namespace}/`)).length > 0, 30_000, 250);
  last.kill('SIGTERM');
  await once(last, 'exit');

  assert.ok(counts[0]! < counts[1]! && counts[1]! < (await manifests()), `the kills landed mid-run (segments at each kill: ${counts.join(', ')})`);
  assert.deepEqual([...found.keys()].sort(), [...expected.keys()].sort());
  for (const [key, offsets] of found) {
    assert.deepEqual(offsets, [...expected.get(key)!].sort((a, b) => Number(BigInt(a) - BigInt(b))), `${key}: each offset once, in order`);
  }

  // An operator's seal, then verify and show as the CLI runs them, Kafka, registry and PostgreSQL unreachable.
  const seal = await cli(['audit', 'seal'], { ...env, ...CLOSED });
  assert.equal(seal.code, 0, seal.stderr);
  const report = await verifyArchive(store, topology, verifyingKey(config));
  assert.deepEqual(report.problems, []);
  assert.equal(report.records, total);
  assert.equal(report.unsealedSegments, 0);
  assert.ok(report.roots >= 2, 'the archiver signed a root, and the seal another');

  const verify = await cli(['audit', 'verify'], { ...env, ...CLOSED });
  assert.equal(verify.code, 0, verify.stderr);
  assert.match(verify.stdout, new RegExp(`^OK: \\d+ chains, ${report.segments} segments, ${total} records`));

  const show = await cli(['audit', 'show', '--json', hashes[0]!], { ...env, ...CLOSED });
  assert.equal(show.code, 0, show.stderr);
  const history = JSON.parse(show.stdout) as { entries: Array<{ kind: string; record: { members?: string[] } }>; altered: string[] };
  assert.deepEqual(history.altered, []);
  assert.deepEqual(history.entries.map((e) => e.kind).sort(), ['batch', 'chunked', 'dead-letter', 'received']);
  assert.ok(history.entries.find((e) => e.kind === 'batch')!.record.members!.includes(hashes[0]!));
});
