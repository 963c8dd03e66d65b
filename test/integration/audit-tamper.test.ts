/**
 * `audit verify` against tampering, on the real MinIO audit bucket: a clean archive verifies;
 * a flipped byte, a deleted segment, two reordered segments and a forged root signature are each
 * named as the first broken link. The tampering uses the stack's root credentials (the
 * application's may not delete, and Object Lock keeps every overwritten version).
 *
 * The archive here is written with the archiver's own builders, straight to the bucket, so each
 * case gets a fresh one in its own namespace in milliseconds; the archiver's reading of Kafka is
 * tested in audit.test.ts.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DeleteObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { createAuditStore, type AuditStore } from '../../connectors/audit/store.ts';
import { claimSealSlot, sealRoot, signRoot, type SignedRoot } from '../../connectors/audit/roots.ts';
import { loadPartitionState } from '../../connectors/audit/archiver.ts';
import { buildSegment, manifestBytes, manifestKey, parseManifest, type AuditLine } from '../../connectors/audit/segment.ts';
import { createLogger } from '../../lib/logger.ts';
import { PermitflowError } from '../../lib/errors.ts';
import { archiveChains, verifyArchive } from '../../connectors/audit/verify.ts';
import { REPO_ROOT, type Config } from '../../lib/config.ts';
import { loadSecrets } from '../../ops/stack/secrets.ts';
import { buildTopology, type Topology } from '../../topology/topics.ts';
import { testConfig } from '../support/stack.ts';

let config: Config;
let store: AuditStore;
let root: S3Client;
const { privateKey, publicKey } = generateKeyPairSync('ed25519');

before(async () => {
  config = await testConfig({ PERMITFLOW_PARTITIONS: '2' });
  store = createAuditStore(config);
  const secrets = loadSecrets(config.stack.dir, false);
  if (!secrets) throw new Error(`no stack secrets in ${config.stack.dir}: start the stack with \`permitflow stack up\``);
  root = new S3Client({ endpoint: config.s3.endpoint, region: config.s3.region, forcePathStyle: true, credentials: { accessKeyId: secrets.minioRootUser, secretAccessKey: secrets.minioRootPassword } });
});
after(() => {
  store.close();
  root.destroy();
});

const line = (offset: number, key: string): AuditLine => ({ offset: String(offset), timestamp: String(1_700_000_000_000 + offset), key, headers: {}, schemaId: 1, value: Buffer.from(`v${offset}`).toString('base64'), record: { n: offset } });

/** A fresh namespace with four segments of three records on the received topic's partition 0, and a signed root. */
async function archive(): Promise<{ topology: Topology; segments: string[] }> {
  const topology = buildTopology({ ...config.topology, namespace: `${config.topology.namespace}${Math.random().toString(36).slice(2, 8)}` });
  const topic = topology.topics.received.name;
  const segments: string[] = [];
  let previous: { key: string; sha256: string } | null = null;
  // Offsets with holes, as a compacted or transactional partition has them.
  for (let s = 0; s < 4; s++) {
    const start = s * 10;
    const { body, manifest } = buildSegment(topic, 0, BigInt(start), [line(start + 1, 'a'), line(start + 2, 'b'), line(start + 9, 'a')], previous, 'test');
    assert.equal(await store.putIfAbsent(manifest.segmentKey, body, 'application/gzip'), 'created');
    assert.equal(await store.putIfAbsent(manifestKey(topic, 0, BigInt(start)), manifestBytes(manifest), 'application/json'), 'created');
    segments.push(manifest.segmentKey);
    previous = { key: manifest.segmentKey, sha256: manifest.segmentSha256 };
    // The next segment starts where this one's reading ended: after its last record.
    if (Number(manifest.nextOffset) !== start + 10) throw new Error('test archive offsets');
  }
  await sealRoot(store, privateKey, topology.options.namespace, archiveChains(topology));
  return { topology, segments };
}

const overwrite = (key: string, body: Buffer) => root.send(new PutObjectCommand({ Bucket: config.audit.bucket, Key: key, Body: body }));
const remove = (key: string) => root.send(new DeleteObjectCommand({ Bucket: config.audit.bucket, Key: key }));
const verify = (topology: Topology, key: KeyObject = publicKey) => verifyArchive(store, topology, key);

describe('audit verify', () => {
  test('a clean archive verifies: every segment, link and root', async () => {
    const { topology } = await archive();
    const report = await verify(topology);
    assert.deepEqual(report.problems, []);
    assert.equal(report.ok, true);
    assert.equal(report.segments, 4);
    assert.equal(report.records, 12);
    assert.equal(report.roots, 1);
    assert.equal(report.unsealedSegments, 0);
  });

  test('the audit bucket is object-locked and the application may not delete from it', async () => {
    assert.deepEqual(await store.objectLock(), { mode: config.audit.objectLock.mode, days: config.audit.objectLock.retentionDays });
    const { segments } = await archive();
    const app = new S3Client({ endpoint: config.s3.endpoint, region: config.s3.region, forcePathStyle: true, credentials: { accessKeyId: config.s3.accessKeyId!, secretAccessKey: config.s3.secretAccessKey! } });
    try {
      await assert.rejects(app.send(new DeleteObjectCommand({ Bucket: config.audit.bucket, Key: segments[0] })), (err: Error) => err.name === 'AccessDenied');
    } finally {
      app.destroy();
    }
    // A conditional put of an existing key is refused: the archiver cannot overwrite either.
    assert.equal(await store.putIfAbsent(segments[0]!, Buffer.from('other'), 'application/gzip'), 'exists');
  });

  test('one flipped byte in a segment is named', async () => {
    const { topology, segments } = await archive();
    const body = (await store.get(segments[1]!))!;
    body[Math.floor(body.length / 2)]! ^= 0x01;
    await overwrite(segments[1]!, body);
    const report = await verify(topology);
    assert.equal(report.ok, false);
    assert.equal(report.problems[0]?.key, segments[1]);
    assert.match(report.problems[0]!.message, /segment altered/);
    // --since checks the bytes of newer segments only; every link is still walked.
    assert.equal((await verifyArchive(store, topology, publicKey, { since: new Date(Date.now() + 60_000) })).ok, true);

    // As an operator runs it: exit 1, the broken link named.
    const cli = spawnSync(process.execPath, [join(REPO_ROOT, 'bin/permitflow.js'), 'audit', 'verify'], {
      env: { ...process.env, PERMITFLOW_TOPIC_NAMESPACE: topology.options.namespace, PERMITFLOW_PARTITIONS: '2', AUDIT_PUBLIC_KEY: publicKey.export({ format: 'der', type: 'spki' }).toString('base64') },
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.equal(cli.status, 1, cli.stderr);
    assert.match(cli.stdout, new RegExp(`^BROKEN: .*\\nfirst broken link: ${segments[1]!.replace(/[.]/g, '\\.')}: segment altered`, 's'));
  });

  test('a deleted segment is named: its body alone, or with its manifest', async () => {
    const { topology, segments } = await archive();
    await remove(segments[2]!);
    const report = await verify(topology);
    assert.equal(report.problems[0]?.key, segments[2]);
    assert.match(report.problems[0]!.message, /segment missing/);

    const second = await archive();
    const topic = second.topology.topics.received.name;
    await remove(second.segments[1]!);
    await remove(manifestKey(topic, 0, 10n));
    const gone = await verify(second.topology);
    // The chain breaks at the segment after the hole: its manifest names the removed one.
    assert.equal(gone.problems[0]?.key, second.segments[2]);
    assert.match(gone.problems[0]!.message, /chain broken/);
  });

  test('two reordered segments are named', async () => {
    const { topology, segments } = await archive();
    const [one, two] = [(await store.get(segments[1]!))!, (await store.get(segments[2]!))!];
    await overwrite(segments[1]!, two);
    await overwrite(segments[2]!, one);
    const report = await verify(topology);
    assert.equal(report.problems[0]?.key, segments[1]);
    assert.match(report.problems[0]!.message, /segment altered/);
  });

  test('a forged root signature is named, and so is a root signed with another key', async () => {
    const { topology } = await archive();
    const [rootKey] = await store.list(`audit/_roots/${topology.options.namespace}/`);
    const signed = JSON.parse((await store.get(rootKey!))!.toString('utf8')) as SignedRoot;
    // Claims a head the archive never had, keeping the old signature.
    const forged: SignedRoot = { ...signed, root: { ...signed.root, heads: signed.root.heads.map((h) => ({ ...h, segmentSha256: '0'.repeat(64) })) } };
    await overwrite(rootKey!, Buffer.from(JSON.stringify(forged)));
    const report = await verify(topology);
    assert.equal(report.problems[0]?.key, rootKey);
    assert.match(report.problems[0]!.message, /signature does not verify/);

    const other = await archive();
    const [otherRoot] = await store.list(`audit/_roots/${other.topology.options.namespace}/`);
    const original = JSON.parse((await store.get(otherRoot!))!.toString('utf8')) as SignedRoot;
    await overwrite(otherRoot!, Buffer.from(JSON.stringify(signRoot(original.root, generateKeyPairSync('ed25519').privateKey))));
    const resigned = await verify(other.topology);
    assert.equal(resigned.problems[0]?.key, otherRoot);
    assert.match(resigned.problems[0]!.message, /signature does not verify/);
  });
});

describe('a restarted archiver', () => {
  const logger = createLogger({ level: 'silent' });

  test('resumes after the last segment, and adopts one a crash left without its manifest', async () => {
    const { topology, segments } = await archive();
    const topic = topology.topics.received;
    const state = await loadPartitionState(store, topic, 0, 0n, 'test', logger);
    assert.equal(state.start, 40n, 'after the last archived offset (39)');
    assert.deepEqual(state.previous?.key, segments[3]);

    // The crash: segment 40-49 written, its manifest not.
    const crashed = buildSegment(topic.name, 0, 40n, [line(41, 'c'), line(45, 'd')], state.previous, 'test');
    const orphan = crashed.manifest.segmentKey;
    await store.putIfAbsent(orphan, crashed.body, 'application/gzip');
    const resumed = await loadPartitionState(store, topic, 0, 0n, 'test', logger);
    assert.equal(resumed.start, 46n, 'after the adopted segment');
    const adopted = parseManifest((await store.get(manifestKey(topic.name, 0, 40n)))!, 'manifest');
    assert.equal(adopted.segmentKey, orphan);
    assert.equal(adopted.previousSegmentKey, segments[3]);
    const report = await verify(topology);
    assert.deepEqual(report.problems, []);
    assert.equal(report.segments, 5);
    assert.equal(report.unsealedSegments, 1, 'the adopted segment is not under a root yet');
  });

  test('of several archivers, one seals each slot, so the roots stay one chain', async () => {
    const { topology } = await archive();
    const ns = topology.options.namespace;
    const at = new Date('2026-12-03T10:00:00Z');
    assert.equal(await claimSealSlot(store, ns, 86_400_000, 'a', at), true);
    assert.equal(await claimSealSlot(store, ns, 86_400_000, 'b', new Date('2026-12-03T23:59:59Z')), false, 'same UTC day');
    assert.equal(await claimSealSlot(store, ns, 86_400_000, 'b', new Date('2026-12-04T00:00:01Z')), true, 'the next day');
  });

  test('refuses to extend a chain whose last segment does not verify', async () => {
    const { topology, segments } = await archive();
    const body = (await store.get(segments[3]!))!;
    body[body.length - 5]! ^= 0xff;
    await overwrite(segments[3]!, body);
    await assert.rejects(loadPartitionState(store, topology.topics.received, 0, 0n, 'test', logger), (err: unknown) => err instanceof PermitflowError && err.code === 'PF_AUDIT_CHAIN_BROKEN' && err.message.includes(segments[3]!));
  });
});
