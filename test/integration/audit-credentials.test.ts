/**
 * Least privilege for the audit archive, on the local stack's MinIO: the archiver's own user
 * (AUDIT_S3_*, made by `stack up`) may put, read and list under audit/ of the audit bucket and
 * nothing else (no delete, no write outside audit/, nothing in the application's bucket), and the
 * application's user may not write the audit bucket any more.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import { DeleteObjectCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { createAuditStore, type AuditStore } from '../../connectors/audit/store.ts';
import { createS3Client } from '../../connectors/object-store.ts';
import type { Config } from '../../lib/config.ts';
import { testConfig } from '../support/stack.ts';

let config: Config;
let archiver: S3Client;
let app: S3Client;
let store: AuditStore;

before(async () => {
  config = await testConfig();
  assert.ok(config.audit.credentials, 'AUDIT_S3_ACCESS_KEY_ID and AUDIT_S3_SECRET_ACCESS_KEY are set (`permitflow stack up` writes them)');
  assert.notEqual(config.audit.credentials.accessKeyId, config.s3.accessKeyId, 'the archiver has a user of its own');
  archiver = createS3Client(config, config.audit.credentials);
  app = createS3Client(config);
  store = createAuditStore(config);
});

after(() => {
  archiver?.destroy();
  app?.destroy();
  store?.close();
});

const denied = (err: Error) => err.name === 'AccessDenied';

test("the archiver's user puts, reads and lists under audit/, and may not delete", async () => {
  const key = `audit/_access-check/${randomUUID()}.txt`;
  assert.equal(await store.putIfAbsent(key, Buffer.from('archived'), 'text/plain'), 'created');
  assert.equal((await store.get(key))?.toString(), 'archived');
  assert.deepEqual(await store.list(key), [key]);
  assert.deepEqual(await store.objectLock(), { mode: config.audit.objectLock.mode, days: config.audit.objectLock.retentionDays });
  await assert.rejects(archiver.send(new DeleteObjectCommand({ Bucket: config.audit.bucket, Key: key })), denied);
  assert.equal((await store.get(key))?.toString(), 'archived', 'still there');
});

test("the archiver's user writes nothing outside audit/, and nothing in the application's bucket", async () => {
  const id = randomUUID();
  await assert.rejects(archiver.send(new PutObjectCommand({ Bucket: config.audit.bucket, Key: `elsewhere/${id}`, Body: 'x' })), denied);
  await assert.rejects(archiver.send(new ListObjectsV2Command({ Bucket: config.audit.bucket, Prefix: 'elsewhere/' })), denied);
  await assert.rejects(archiver.send(new PutObjectCommand({ Bucket: config.s3.bucket, Key: `raw/${id}`, Body: 'x' })), denied);
  await assert.rejects(archiver.send(new ListObjectsV2Command({ Bucket: config.s3.bucket })), denied);
  // The application's user can read its own bucket's objects: the archiver's cannot.
  const appKey = `access-check/${id}`;
  await app.send(new PutObjectCommand({ Bucket: config.s3.bucket, Key: appKey, Body: 'x', IfNoneMatch: '*' }));
  await assert.rejects(archiver.send(new GetObjectCommand({ Bucket: config.s3.bucket, Key: appKey })), denied);
});

test("the application's user may not write the audit bucket", async () => {
  await assert.rejects(app.send(new PutObjectCommand({ Bucket: config.audit.bucket, Key: `audit/_access-check/${randomUUID()}.txt`, Body: 'x' })), denied);
});
