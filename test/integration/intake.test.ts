/**
 * The intake gateway on the real stack (Kafka, registry, MinIO, Redis): a 202 means the
 * envelope is on the raw topic and decodes through the registry, with the payload inline or in
 * MinIO under its hash; Idempotency-Key retries replay through Redis; 200 concurrent requests
 * with one key produce exactly one record; responses match the served OpenAPI document.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { canonicalPayload, sha256Hex } from '../../domain/hashing.ts';
import { multipartBody, openApiChecker, type SeenResponse } from '../support/intake.ts';
import { intakeOnStack } from '../support/intake-stack.ts';
import { sampleApplications } from '../support/samples.ts';

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

async function call(url: string, init: RequestInit = {}): Promise<Answer> {
  const res = await fetch(url, init);
  return { status: res.status, headers: Object.fromEntries(res.headers), body: await res.text() };
}

const unique = () => ({ ...sampleApplications()[0]!, sourceReference: `IT-${randomBytes(6).toString('hex')}` });

test('a small JSON submission: 202, then its envelope on the raw topic decodes through the registry with the payload inline', async (t) => {
  const s = await intakeOnStack(t);
  const application = unique();
  const res = await call(`${s.intake.url}/v1/submissions`, { method: 'POST', headers: { authorization: `Bearer ${s.keys.portal}`, 'content-type': 'application/json' }, body: JSON.stringify(application) });
  assert.equal(res.status, 202, res.body);
  const { hash, bytes } = canonicalPayload(application);
  assert.equal(res.headers.location, `/v1/submissions/${hash}`);

  // The produce resolved before the 202: the record is there without waiting.
  const records = await s.rawRecords();
  assert.equal(records.length, 1);
  const { key, value } = records[0]!;
  assert.equal(key, hash);
  assert.equal(value.submissionHash, hash);
  assert.equal(value.source, 'http');
  assert.equal(value.sourceClient, 'portal');
  assert.equal(value.sourceReference, application.sourceReference);
  assert.deepEqual(value.payload.inline, bytes);
  assert.equal(value.payload.objectKey, null);
  assert.match(value.traceparent ?? '', /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);

  const status = await call(`${s.intake.url}${res.headers.location}`, { headers: { authorization: `Bearer ${s.keys.reader}` } });
  assert.equal(status.status, 200);
  assert.equal((JSON.parse(status.body) as { status: string }).status, 'received');
});

test('a large submission and an attachment are claim-checked into MinIO under their hashes', async (t) => {
  const s = await intakeOnStack(t);
  // Large yet within the schema's bounds: 40 extra fields of 2000 characters.
  const narrative = `Detailed scope narrative ${randomBytes(8).toString('hex')}. `.repeat(60).slice(0, 2000);
  const application = { ...unique(), extraFields: Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`narrative-${i}`, narrative])) };
  const drawing = Buffer.concat([Buffer.from('%PDF-1.7\n'), randomBytes(300_000)]);
  const form = await multipartBody(application, [{ field: 'drawings', name: 'floor-plan.pdf', type: 'application/pdf', bytes: drawing }]);
  const res = await call(`${s.intake.url}/v1/submissions`, { method: 'POST', headers: { authorization: `Bearer ${s.keys.portal}`, 'content-type': form.contentType }, body: form.payload });
  assert.equal(res.status, 202, res.body);

  const { hash, bytes } = canonicalPayload(application);
  assert.ok(bytes.length > 64 * 1024);
  const [record] = await s.rawRecords();
  assert.equal(record?.value.payload.inline, null);
  assert.equal(record?.value.payload.objectKey, `raw/${hash}`);
  assert.deepEqual(await s.store.get(`raw/${hash}`), bytes);
  const attachment = record?.value.attachments[0];
  assert.deepEqual({ ...attachment }, { name: 'floor-plan.pdf', kind: 'drawings', contentType: 'application/pdf', size: drawing.length, sha256: sha256Hex(drawing), objectKey: `attachments/${sha256Hex(drawing)}` });
  assert.deepEqual(await s.store.get(attachment!.objectKey), drawing);
});

test('an Idempotency-Key retry replays the first response from Redis; another body with the key is 422', async (t) => {
  const s = await intakeOnStack(t);
  const key = `"${randomBytes(8).toString('hex')}"`;
  const headers = { authorization: `Bearer ${s.keys.portal}`, 'content-type': 'application/json', 'idempotency-key': key };
  const application = unique();
  const first = await call(`${s.intake.url}/v1/submissions`, { method: 'POST', headers, body: JSON.stringify(application) });
  const retry = await call(`${s.intake.url}/v1/submissions`, { method: 'POST', headers, body: JSON.stringify(application) });
  assert.equal(first.status, 202);
  assert.equal(retry.status, 202);
  assert.equal(retry.body, first.body);
  assert.equal(retry.headers['idempotent-replayed'], 'true');
  const other = await call(`${s.intake.url}/v1/submissions`, { method: 'POST', headers, body: JSON.stringify(unique()) });
  assert.equal(other.status, 422);
  assert.equal(await s.rawCount(), 1);
});

test('200 concurrent POSTs with one Idempotency-Key give exactly one raw record', async (t) => {
  const s = await intakeOnStack(t);
  const headers = { authorization: `Bearer ${s.keys.portal}`, 'content-type': 'application/json', 'idempotency-key': `"${randomBytes(8).toString('hex')}"` };
  const body = JSON.stringify(unique());
  const answers = await Promise.all(Array.from({ length: 200 }, () => call(`${s.intake.url}/v1/submissions`, { method: 'POST', headers, body })));
  const statuses = new Map<number, number>();
  for (const a of answers) statuses.set(a.status, (statuses.get(a.status) ?? 0) + 1);
  assert.deepEqual([...statuses.keys()].filter((st) => st !== 202 && st !== 409), [], `statuses ${JSON.stringify([...statuses])}`);
  assert.equal(new Set(answers.filter((a) => a.status === 202).map((a) => a.body)).size, 1, 'every 202 is the same response');
  const records = await s.rawRecords();
  assert.equal(records.length, 1);
});

test('real responses of every kind match the served OpenAPI document', async (t) => {
  const s = await intakeOnStack(t);
  const document = JSON.parse((await call(`${s.intake.url}/openapi.json`)).body) as Record<string, unknown>;
  const check = openApiChecker(document);
  const seen = async (method: string, path: string, url: string, init: RequestInit = {}) => {
    const a = await call(`${s.intake.url}${url}`, { method, ...init });
    const r: SeenResponse = { method, path, ...a };
    check(r);
    return a;
  };
  const auth = { authorization: `Bearer ${s.keys.portal}` };
  const accepted = await seen('POST', '/v1/submissions', '/v1/submissions', { headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify(unique()) });
  await seen('POST', '/v1/submissions', '/v1/submissions', { headers: { ...auth, 'content-type': 'application/json' }, body: '{"jurisdiction": 7}' });
  await seen('POST', '/v1/submissions', '/v1/submissions', { headers: { ...auth, 'content-type': 'application/json' }, body: '{' });
  await seen('POST', '/v1/submissions', '/v1/submissions', { headers: { ...auth, 'content-type': 'text/plain' }, body: 'x' });
  await seen('POST', '/v1/submissions', '/v1/submissions', { headers: { 'content-type': 'application/json' }, body: '{}' });
  await seen('GET', '/v1/submissions/{id}', accepted.headers.location!, { headers: { authorization: `Bearer ${s.keys.reader}` } });
  await seen('GET', '/v1/submissions/{id}', `/v1/submissions/${'0'.repeat(64)}`, { headers: { authorization: `Bearer ${s.keys.reader}` } });
  await seen('GET', '/healthz', '/healthz');
  const ready = await seen('GET', '/readyz', '/readyz');
  assert.deepEqual(JSON.parse(ready.body), { status: 'ready', checks: { kafka: 'ok', objectStore: 'ok', redis: 'ok' } });
  await seen('GET', '/metrics', '/metrics');
  await seen('GET', '/openapi.json', '/openapi.json');
});
