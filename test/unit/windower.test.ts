import assert from 'node:assert/strict';
import { gunzipSync, gzipSync } from 'node:zlib';
import { test } from 'node:test';
import { canonicalPayload, sha256Hex, submissionHashOf } from '../../domain/hashing.ts';
import { createLogger } from '../../lib/logger.ts';
import { PermitflowError } from '../../lib/errors.ts';
import { createWindower, ENVELOPE_LIMITS, envelopeProblem } from '../../processors/windower/index.ts';
import { closeWindow, gzipArchive, idempotencyKey, openWindow } from '../../processors/windower/window.ts';
import { processorStores, type StoreWrite } from '../../processors/runtime/stores.ts';
import { isCommitCondition, type Output, type ProcessorOutput, type TopicOutput } from '../../processors/runtime/types.ts';
import type { Serde } from '../../schemas/serde.ts';
import type { BatchManifest, SubmissionEnvelope } from '../../schemas/types.ts';
import { buildTopology } from '../../topology/topics.ts';

const topology = buildTopology({ namespace: 'permits', partitions: 6, replicationFactor: 1, minCompactionLagMs: 0 });
const logger = createLogger({ level: 'silent' });

function envelope(n: number, size = 0): SubmissionEnvelope {
  const payload = canonicalPayload({ n, filler: 'x'.repeat(size) });
  return {
    submissionHash: payload.hash,
    source: 'http',
    sourceClient: null,
    sourceReference: `ref-${n}`,
    receivedAt: 1_000 + n,
    payload: { contentType: 'application/json', size: payload.bytes.length, sha256: payload.hash, inline: payload.bytes, objectKey: null },
    attachments: [],
    traceparent: null,
  };
}

/** The windower on one partition, with an in-memory archive and a fixed clock. */
async function harness(limits: { maxCount?: number; maxBytes?: number; maxAgeMs?: number } = {}) {
  const archive = new Map<string, Buffer>();
  let now = 10_000;
  const windower = createWindower({
    maxCount: limits.maxCount ?? 3,
    maxBytes: limits.maxBytes ?? 1_000_000,
    maxAgeMs: limits.maxAgeMs ?? 60_000,
    dedupHorizonMs: 30 * 86_400_000,
    archive: {
      putIfAbsent: (key, body) => {
        if (archive.has(key)) return Promise.resolve('exists' as const);
        archive.set(key, body as Buffer);
        return Promise.resolve('created' as const);
      },
    },
    serde: {} as Serde,
    topology,
    workerId: 'w1',
    clock: () => now,
  });
  // The runtime's stores (processors/runtime/stores.ts), restored empty, written as the runner does: after the handler returns.
  const stores = processorStores('windower', topology, windower.stores!, () => now);
  await stores.restore(0, () => Promise.resolve(), new AbortController().signal);
  const partitionCtx = (writable: boolean) => {
    const views = stores.views(0, writable);
    const ctx = {
      processor: 'windower' as const,
      partition: 0,
      workerId: 'w1',
      logger,
      signal: new AbortController().signal,
      committedOffsets: new Map<string, bigint>(),
      store: views.view,
      readPartition: () => Promise.resolve(),
      replayInput: () => Promise.resolve(),
    };
    return { ctx, views };
  };
  // As the runtime does: the store writes join the outputs, and the commit conditions (the archive) are awaited.
  const withWrites = async (outputs: ProcessorOutput[], views: { commit: () => readonly StoreWrite[] }): Promise<(Output | StoreWrite)[]> => {
    await Promise.all(outputs.filter(isCommitCondition).map((c) => c.awaitBeforeCommit));
    return [...outputs.filter((o): o is Output => !isCommitCondition(o)), ...views.commit()];
  };
  await windower.assign!(partitionCtx(false).ctx);
  let offset = 0;
  return {
    archive,
    advance: (ms: number) => (now += ms),
    process: async (e: SubmissionEnvelope) => {
      const views = stores.views(0, true);
      const ctx = { processor: 'windower' as const, workerId: 'w1', logger, traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', signal: new AbortController().signal, pauseUntil: () => undefined, store: views.view };
      return withWrites(await windower.process({ topic: topology.topics.raw, partition: 0, offset: String(offset++), timestamp: now, key: e.submissionHash, value: e, headers: {} }, ctx), views);
    },
    punctuate: async () => {
      const { ctx, views } = partitionCtx(true);
      return withWrites(await windower.punctuate!.run(ctx, now), views);
    },
  };
}

const on = (outputs: readonly (Output | StoreWrite)[], id: string) => outputs.filter((o): o is TopicOutput => 'topic' in o && o.topic.id === id);

test('a new submission is received and joins the open window; a duplicate is dropped', async () => {
  const w = await harness();
  const first = await w.process(envelope(1));
  assert.equal(on(first, 'received').length, 1);
  assert.equal(on(first, 'chunked').length, 0);
  assert.deepEqual(await w.process(envelope(1)), [], 'a duplicate emits nothing');
});

test('the window closes on count with a manifest, one chunked per member and an archive', async () => {
  const w = await harness({ maxCount: 3 });
  await w.process(envelope(1));
  await w.process(envelope(2));
  const outputs = await w.process(envelope(3));
  const [manifest] = on(outputs, 'batches').map((o) => o.value as BatchManifest);
  assert.ok(manifest);
  assert.equal(manifest.count, 3);
  assert.equal(manifest.closeReason, 'COUNT');
  assert.equal(manifest.idempotencyKey, idempotencyKey([1, 2, 3].map((n) => envelope(n).submissionHash)));
  assert.match(manifest.batchId, /^[0-9a-f-]{36}$/);
  assert.deepEqual(on(outputs, 'chunked').map((o) => o.key), [1, 2, 3].map((n) => envelope(n).submissionHash));
  const lines = gunzipSync(w.archive.get(manifest.archiveKey!)!).toString().trim().split('\n');
  assert.equal(lines.length, 4, 'manifest line and one line per member');
  // The next record opens a new batch with a new id.
  const next = await w.process(envelope(4));
  assert.equal(on(next, 'batches').length, 0);
});

test('the window closes before it would pass its byte limit', async () => {
  const w = await harness({ maxCount: 100, maxBytes: 2_500 });
  await w.process(envelope(1, 1_000));
  await w.process(envelope(2, 1_000));
  const outputs = await w.process(envelope(3, 1_000));
  const [manifest] = on(outputs, 'batches').map((o) => o.value as BatchManifest);
  assert.equal(manifest?.closeReason, 'BYTES');
  assert.equal(manifest?.count, 2, 'the third member starts the next batch');
  assert.ok(manifest.bytes <= 2_500);
});

test('an idle window closes on age at the next punctuation, not before', async () => {
  const w = await harness({ maxAgeMs: 60_000 });
  await w.process(envelope(1));
  w.advance(59_000);
  assert.deepEqual(await w.punctuate(), []);
  w.advance(1_000);
  const outputs = await w.punctuate();
  assert.equal(on(outputs, 'batches')[0]?.value && (on(outputs, 'batches')[0]!.value as BatchManifest).closeReason, 'AGE');
  assert.deepEqual(await w.punctuate(), [], 'nothing left to close');
});

test('an invalid envelope is a permanent error (dead letter), with the reason', async () => {
  const w = await harness();
  const bad = { ...envelope(1), submissionHash: 'not-a-hash' };
  await assert.rejects(w.process(bad), (err: unknown) => err instanceof PermitflowError && !err.retriable && /hex SHA-256/.test(err.message));
  const tampered = envelope(2);
  tampered.payload = { ...tampered.payload, inline: Buffer.from('{"n":999}') };
  assert.match(envelopeProblem(tampered, tampered.submissionHash) ?? '', /does not match/);
});

test('an inline payload must hash to its key, attachments included, as the intake computes it', async () => {
  const w = await harness();
  // Another application's payload, with its own consistent size and sha256, under a key it does not give.
  const swapped = { ...envelope(3), payload: envelope(4).payload };
  assert.equal(envelopeProblem(swapped, swapped.submissionHash), 'submissionHash is not the hash of the inline payload and its attachments');
  await assert.rejects(w.process(swapped), (err: unknown) => err instanceof PermitflowError && err.code === 'PF_INVALID_ENVELOPE' && !err.retriable);

  const attachment = { name: 'plan.pdf', kind: 'site-plan', contentType: 'application/pdf', size: 10, sha256: 'ab'.repeat(32), objectKey: `attachments/${'ab'.repeat(32)}` };
  const withAttachment = { ...envelope(5), attachments: [attachment] };
  assert.match(envelopeProblem(withAttachment, withAttachment.submissionHash) ?? '', /not the hash of the inline payload and its attachments/, 'the payload hash alone is not the identity once attachments come');
  const identified = { ...withAttachment, submissionHash: submissionHashOf(withAttachment.payload.sha256, [attachment]) };
  assert.equal(envelopeProblem(identified, identified.submissionHash), null);
  // Key order and whitespace are not identity: the canonical form is hashed, as at the intake.
  const loose = Buffer.from('{ "filler": "", "n": 6 }');
  const reordered = { ...envelope(6), payload: { ...envelope(6).payload, inline: loose, size: loose.length, sha256: sha256Hex(loose) } };
  assert.equal(envelopeProblem(reordered, reordered.submissionHash), null);
  const notJson = Buffer.from('not json');
  const garbage = { ...envelope(7), payload: { ...envelope(7).payload, inline: notJson, size: notJson.length, sha256: sha256Hex(notJson) } };
  assert.equal(envelopeProblem(garbage, garbage.submissionHash), 'inline payload is not JSON');
});

test('an envelope whose free text is over its bound is refused before it reaches a state topic', async () => {
  const w = await harness();
  const reference = (bytes: number) => ({ ...envelope(8), sourceReference: 'r'.repeat(bytes) });
  assert.equal(envelopeProblem(reference(ENVELOPE_LIMITS.sourceReferenceBytes), envelope(8).submissionHash), null);
  const long = reference(3 * 1024);
  assert.equal(envelopeProblem(long, long.submissionHash), `sourceReference is 3072 bytes, over the ${ENVELOPE_LIMITS.sourceReferenceBytes} allowed`);
  await assert.rejects(w.process(long), (err: unknown) => err instanceof PermitflowError && err.code === 'PF_INVALID_ENVELOPE');
  // Bytes, not characters: 400 four-byte characters are 1,600 bytes.
  const wide = { ...envelope(8), sourceReference: '\u{1F3D7}'.repeat(400) };
  assert.match(envelopeProblem(wide, wide.submissionHash) ?? '', /1600 bytes/);
  const client = { ...envelope(8), sourceClient: 'c'.repeat(ENVELOPE_LIMITS.sourceClientBytes + 1) };
  assert.match(envelopeProblem(client, client.submissionHash) ?? '', /^sourceClient/);
});

test('closing the same window twice gives the same archive bytes and key', async () => {
  const window = openWindow('batch-1', 1, 0);
  for (const n of [1, 2]) {
    const e = envelope(n);
    window.members.push({ hash: e.submissionHash, rawOffset: n, receivedAt: 1, sourceReference: null, payload: e.payload, attachments: [], traceparent: '' });
  }
  const a = closeWindow(window, { partition: 0, workerId: 'w1', closedAt: 5, reason: 'AGE' });
  const b = closeWindow(window, { partition: 0, workerId: 'w2', closedAt: 9, reason: 'COUNT' });
  assert.equal(a.manifest.archiveKey, b.manifest.archiveKey);
  assert.equal(a.archiveLines, b.archiveLines);
  assert.deepEqual(await gzipArchive(a.archiveLines), await gzipArchive(b.archiveLines));
  // What earlier versions wrote with gzipSync: an archive retried after an upgrade is the same object.
  assert.deepEqual(await gzipArchive(a.archiveLines), gzipSync(a.archiveLines));
});

test('a duplicate is told by the seen-hashes store: its write is a changelog record of the hash and the raw offset', async () => {
  const w = await harness();
  const outputs = await w.process(envelope(1));
  const writes = outputs.filter((o) => 'store' in o);
  assert.deepEqual(
    writes.map((o) => ('store' in o ? [o.store, o.key] : [])),
    [
      ['seen-hashes', envelope(1).submissionHash],
      ['open-window', '0'],
    ],
  );
  assert.deepEqual(await w.process(envelope(1)), [], 'the duplicate writes nothing, not even a store record');
});
