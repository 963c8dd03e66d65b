/**
 * Crash safety of the windower and the runtime's transactions, with real SIGKILLs.
 *
 * After the run every output topic is scanned from the beginning with read_committed (before
 * compaction): each hash once in `received` and once in `chunked`, batch member sets disjoint
 * and covering every received hash, one manifest per batch, nothing lost. The control run
 * switches transactions off and must violate those guarantees, so we know the kills bite.
 * Each test runs once per Kafka client of the runtime named in PERMITFLOW_TEST_KAFKA_CLIENTS
 * (default kafkajs, the default client; `kafkajs,confluent` runs both): on confluent the
 * five-kill run stalled in 2 of 4 runs once and passed in every run since, with no cause found
 * (issue 12), so `make test` runs the default client. A run that does not finish says where each
 * partition stands, for the next stall.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { once } from 'node:events';
import { test, type TestContext } from 'node:test';
import type { Config } from '../../lib/config.ts';
import { createKafka } from '../../lib/kafka.ts';
import { createLogger } from '../../lib/logger.ts';
import type { BatchManifest, SubmissionChunked, SubmissionReceived } from '../../schemas/types.ts';
import type { Topology } from '../../topology/topics.ts';
import { produceSubmissions, readAll, spawnProcessor, waitFor } from '../support/pipeline.ts';
import { testConfig, testTopology } from '../support/stack.ts';

const SETTINGS = { WINDOW_MAX_COUNT: '500', WINDOW_MAX_AGE_MS: '3000', PERMITFLOW_SESSION_TIMEOUT_MS: '6000', PERMITFLOW_PARTITIONS: '3' };

interface Violations {
  receivedTwice: number;
  chunkedTwice: number;
  neverReceived: number;
  neverChunked: number;
  inTwoBatches: number;
  manifestsTwice: number;
  chunkedWithoutManifest: number;
}

const total = (v: Violations): number => (Object.values(v) as number[]).reduce((a, b) => a + b, 0);

const CLIENTS = (process.env.PERMITFLOW_TEST_KAFKA_CLIENTS ?? 'kafkajs').split(',').map((c) => c.trim());

function childEnv(config: Config, client: string, extra: Record<string, string> = {}): Record<string, string> {
  return { ...SETTINGS, PERMITFLOW_TOPIC_NAMESPACE: config.topology.namespace, LOG_LEVEL: 'warn', KAFKA_CLIENT: client, ...extra };
}

/** Sum of the end offsets of output topics: a cheap progress signal for timing the kills. */
async function progress(config: Config, topology: Topology, ids: ('received' | 'chunked')[] = ['received']): Promise<number> {
  const admin = createKafka(config, createLogger({ level: 'warn' })).admin();
  await admin.connect();
  try {
    let sum = 0;
    for (const id of ids) sum += (await admin.fetchTopicOffsets(topology.topics[id].name)).reduce((n, o) => n + Number(o.high), 0);
    return sum;
  } finally {
    await admin.disconnect();
  }
}

/**
 * Where a run that did not finish stands, per partition: raw's end, the windower group's
 * committed offset and how many records received and chunked hold. Says which partition stalled
 * and whether its input was consumed (a window that never closed) or not (a partition never fetched).
 */
async function stallReport(config: Config, topology: Topology): Promise<string> {
  const admin = createKafka(config, createLogger({ level: 'warn' })).admin();
  await admin.connect();
  try {
    const raw = topology.topics.raw.name;
    const ends = await admin.fetchTopicOffsets(raw);
    const [committed] = await admin.fetchOffsets({ groupId: topology.group('windower'), topics: [raw] });
    const perPartition = async (id: 'received' | 'chunked') =>
      (await readAll(config, topology, id)).reduce((m, r) => m.set(r.partition, (m.get(r.partition) ?? 0) + 1), new Map<number, number>());
    const [received, chunked] = [await perPartition('received'), await perPartition('chunked')];
    return ends
      .sort((a, b) => a.partition - b.partition)
      .map(({ partition, high }) => {
        const offset = committed?.partitions.find((p) => p.partition === partition)?.offset ?? '-1';
        return `partition ${partition}: raw end ${high}, committed ${offset}, received ${received.get(partition) ?? 0}, chunked ${chunked.get(partition) ?? 0}`;
      })
      .join('; ');
  } finally {
    await admin.disconnect();
  }
}

async function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGKILL');
  await once(child, 'exit');
}

async function scan(config: Config, topology: Topology, expected: string[]): Promise<Violations> {
  const received = await readAll<SubmissionReceived>(config, topology, 'received');
  const chunked = await readAll<SubmissionChunked>(config, topology, 'chunked');
  const batches = (await readAll<BatchManifest>(config, topology, 'batches')).map((r) => r.value);
  const count = (keys: (string | null)[]) => keys.reduce((m, k) => m.set(k!, (m.get(k!) ?? 0) + 1), new Map<string, number>());
  const receivedCount = count(received.map((r) => r.key));
  const chunkedCount = count(chunked.map((r) => r.key));
  const batchOf = new Map<string, number>();
  for (const b of batches) for (const m of b.members) batchOf.set(m, (batchOf.get(m) ?? 0) + 1);
  const manifestIds = count(batches.map((b) => b.batchId));
  return {
    receivedTwice: [...receivedCount.values()].filter((n) => n > 1).length,
    chunkedTwice: [...chunkedCount.values()].filter((n) => n > 1).length,
    neverReceived: expected.filter((h) => !receivedCount.has(h)).length,
    neverChunked: expected.filter((h) => !chunkedCount.has(h)).length,
    inTwoBatches: [...batchOf.values()].filter((n) => n > 1).length,
    manifestsTwice: [...manifestIds.values()].filter((n) => n > 1).length,
    chunkedWithoutManifest: chunked.filter((c) => !manifestIds.has(c.value.header.batchId ?? '')).length,
  };
}

/**
 * Runs one windower, SIGKILLs it at five moments spread over the run (at random within each
 * stretch of progress) and restarts it; returns once the run has settled.
 */
async function runWithKills(t: TestContext, config: Config, topology: Topology, expected: number, env: Record<string, string>): Promise<number> {
  let child = spawnProcessor(t, 'windower', env);
  let kills = 0;
  for (const fraction of [0.1, 0.3, 0.5, 0.7, 0.85]) {
    const target = Math.floor(expected * (fraction + randomInt(0, 80) / 1000));
    await waitFor(`received to pass ${target}`, async () => (await progress(config, topology)) >= target, 180_000, 100);
    await kill(child);
    kills++;
    child = spawnProcessor(t, 'windower', env);
  }
  return kills;
}

for (const client of CLIENTS) {
  test(`SIGKILL the windower five times during a 20,000-submission run: exactly once, nothing lost (${client})`, async (t) => {
    const config = await testConfig(SETTINGS);
    const topology = await testTopology(t, config);
    const hashes = await produceSubmissions(config, topology, 20_000, 2_000);
    const kills = await runWithKills(t, config, topology, 20_000, childEnv(config, client));
    assert.equal(kills, 5);
    await waitFor('every submission chunked', async () => (await readAll(config, topology, 'chunked')).length >= 20_000, 300_000, 1_000).catch(async (err: unknown) => {
      throw new Error(`${(err as Error).message}: ${await stallReport(config, topology)}`, { cause: err });
    });

    const violations = await scan(config, topology, hashes);
    assert.deepEqual(violations, { receivedTwice: 0, chunkedTwice: 0, neverReceived: 0, neverChunked: 0, inTwoBatches: 0, manifestsTwice: 0, chunkedWithoutManifest: 0 });
  });

  test(`two instances, one killed mid-run: the same guarantees after the rebalance (${client})`, async (t) => {
    const config = await testConfig(SETTINGS);
    const topology = await testTopology(t, config);
    const hashes = await produceSubmissions(config, topology, 10_000, 1_000);
    const survivor = spawnProcessor(t, 'windower', childEnv(config, client, { PERMITFLOW_WORKER_ID: 'survivor' }));
    const victim = spawnProcessor(t, 'windower', childEnv(config, client, { PERMITFLOW_WORKER_ID: 'victim' }));
    await waitFor('a third of the run', async () => (await progress(config, topology)) >= 3_000, 180_000, 100);
    await kill(victim);
    await waitFor('every submission chunked', async () => (await readAll(config, topology, 'chunked')).length >= 10_000, 300_000, 1_000);
    assert.equal(survivor.exitCode, null, 'the survivor kept running');

    const violations = await scan(config, topology, hashes);
    assert.equal(total(violations), 0, JSON.stringify(violations));
    const chunked = await readAll<SubmissionChunked>(config, topology, 'chunked');
    assert.ok(chunked.some((c) => c.value.header.workerId === 'survivor'), 'the survivor took over');
  });

  test(`control run with transactions off: the same kills violate the guarantees (${client})`, async (t) => {
    const config = await testConfig(SETTINGS);
    const topology = await testTopology(t, config);
    const hashes = await produceSubmissions(config, topology, 20_000, 2_000);
    await runWithKills(t, config, topology, 20_000, childEnv(config, client, { PERMITFLOW_TRANSACTIONS: 'false' }));
    // Without transactions nothing says when the run is complete; wait until the output stops moving.
    let last = -1;
    await waitFor('the run to settle', async () => {
      const now = await progress(config, topology, ['received', 'chunked']);
      const settled = now === last;
      last = now;
      return settled;
    }, 300_000, 8_000);

    const violations = await scan(config, topology, hashes);
    t.diagnostic(`control run violations: ${JSON.stringify(violations)}`);
    assert.ok(total(violations) > 0, 'without transactions, SIGKILLs must show duplicates or losses');
  });
}
