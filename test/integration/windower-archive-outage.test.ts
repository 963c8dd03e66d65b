/**
 * The windower through an object-store outage (issue 14's MinIO chaos scenario, small): its own
 * MinIO is SIGKILLed while submissions flow, so every batch close fails (the age timer's and a
 * full window's) and the partition is restored again and again, then MinIO comes back. Each
 * received submission must still be chunked once, in exactly one batch, with its archive written.
 *
 * What it guards: a close that failed had already dropped the window in memory, and a batch
 * queued behind it ran before the restore, opened a new window over the changelog's, and the old
 * window's members stayed at `received` for ever (704 of 10,000 in the chaos suite).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { createObjectStore, createS3Client } from '../../connectors/object-store.ts';
import { createRawProducer } from '../../connectors/raw-topic.ts';
import type { Config } from '../../lib/config.ts';
import { createKafka } from '../../lib/kafka.ts';
import { createLogger } from '../../lib/logger.ts';
import { createRegistry, createSerde } from '../../schemas/serde.ts';
import type { BatchManifest } from '../../schemas/types.ts';
import type { Topology } from '../../topology/topics.ts';
import { readAll, startStages, syntheticEnvelope, waitFor } from '../support/pipeline.ts';
import { startPrivateMinio } from '../support/private-minio.ts';
import { testConfig, testTopology } from '../support/stack.ts';

const SUBMISSIONS = 1_200;
const PER_SECOND = 60;
const OUTAGE_MS = 8_000;

/** Sends `count` envelopes at `perSecond` (a steady flow, so records keep arriving through the outage). */
async function flow(config: Config, topology: Topology, count: number, perSecond: number, sent: string[]): Promise<void> {
  const producer = await createRawProducer(createKafka(config, createLogger({ level: 'warn' })), createSerde(createRegistry(config)), topology.topics.raw);
  const started = Date.now();
  const step = Math.ceil(perSecond / 10);
  try {
    for (let from = 0; from < count; from += step) {
      await sleep(Math.max(0, started + (from / perSecond) * 1000 - Date.now()));
      const slice = Array.from({ length: Math.min(step, count - from) }, (_, i) => syntheticEnvelope(from + i));
      await producer.send(slice);
      sent.push(...slice.map((e) => e.submissionHash));
    }
  } finally {
    await producer.close();
  }
}

test('a MinIO SIGKILL while submissions flow leaves every received submission in exactly one batch', { timeout: 300_000 }, async (t) => {
  const minio = await startPrivateMinio(t);
  const config = await testConfig({ ...minio.env, WINDOW_MAX_COUNT: '50', WINDOW_MAX_AGE_MS: '1000' });
  const topology = await testTopology(t, config);
  await startStages(t, config, ['windower']);

  const sent: string[] = [];
  const flowing = flow(config, topology, SUBMISSIONS, PER_SECOND, sent);
  flowing.catch(() => undefined);
  await waitFor('a few batches before the outage', async () => (await readAll(config, topology, 'batches')).length >= 3, 60_000, 500);
  const killedAt = Date.now();
  await minio.kill();
  // The outage itself: submissions keep arriving while every close fails.
  await sleep(OUTAGE_MS);
  const restartingAt = Date.now();
  await minio.start();
  await flowing;
  assert.equal(sent.length, SUBMISSIONS);

  let chunked = new Map<string, number>();
  await waitFor(
    `all ${SUBMISSIONS} submissions chunked`,
    async () => {
      chunked = new Map();
      for (const r of await readAll(config, topology, 'chunked')) chunked.set(r.key!, (chunked.get(r.key!) ?? 0) + 1);
      return chunked.size >= SUBMISSIONS;
    },
    120_000,
    1_000,
  ).catch((err: Error) => {
    throw new Error(`${err.message}: ${SUBMISSIONS - chunked.size} received submissions were never chunked`, { cause: err });
  });

  const received = await readAll(config, topology, 'received');
  assert.equal(received.length, SUBMISSIONS, 'each submission received once');
  assert.deepEqual([...chunked.values()].filter((n) => n !== 1), [], 'each submission chunked once');
  const batches = (await readAll<BatchManifest>(config, topology, 'batches')).map((r) => r.value);
  const members = batches.flatMap((b) => b.members);
  assert.equal(members.length, SUBMISSIONS, 'every submission in exactly one batch');
  assert.deepEqual(new Set(members), new Set(sent));
  const store = createObjectStore(config);
  t.after(() => store.close());
  for (const b of batches) assert.ok(await store.exists(b.archiveKey!), `archive of batch ${b.batchId} written`);
  // The fault bit: a window due to close (after 1 s) during the outage met the dead store. Either
  // it closed then and its archive (written off the handler, its commit waiting on it) was stored
  // only once MinIO was back, or it stayed open until then.
  const s3 = createS3Client(config);
  t.after(() => s3.destroy());
  const archivedAt = async (b: BatchManifest) => (await s3.send(new HeadObjectCommand({ Bucket: config.s3.bucket, Key: b.archiveKey! }))).LastModified!.getTime();
  const closedInOutage = batches.filter((b) => b.closedAt >= killedAt && b.closedAt < restartingAt);
  const archivedAfterRestart = (await Promise.all(closedInOutage.map(archivedAt))).filter((at) => at >= restartingAt - 1_000);
  const stayedOpen = batches.filter((b) => b.closedAt >= restartingAt && b.closedAt - b.openedAt >= OUTAGE_MS / 2);
  assert.ok(
    archivedAfterRestart.length + stayedOpen.length > 0,
    `a window closed in the outage was archived only after it (${archivedAfterRestart.length} of ${closedInOutage.length}), or stayed open through it (${stayedOpen.length})`,
  );
});
