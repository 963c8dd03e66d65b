/**
 * POST /v1/submissions and GET /v1/submissions/{id} with in-memory dependencies (inject(), no
 * port): what is stored where, what goes on the raw topic, and what the client is told.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { canonicalPayload, sha256Hex, submissionHashOf } from '../../domain/hashing.ts';
import { sanitiseFileName } from '../../connectors/intake/multipart.ts';
import { firstKnownStatus, type SubmissionStatus, type SubmissionStatusSource } from '../../connectors/intake/status.ts';
import { FIXED_NOW, multipartBody, testIntake } from '../support/intake.ts';
import { sampleApplications } from '../support/samples.ts';

const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

test('a JSON submission is answered 202 with Location and the hash, after its envelope went to the raw topic inline', async (t) => {
  const intake = await testIntake();
  t.after(() => intake.app.close());
  const application = sampleApplications()[0]!;
  const res = await intake.app.inject({ method: 'POST', url: '/v1/submissions', headers: { ...bearer(intake.keys.portal), traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' }, payload: application });

  const hash = canonicalPayload(application).hash;
  assert.equal(res.statusCode, 202);
  assert.equal(res.headers.location, `/v1/submissions/${hash}`);
  assert.deepEqual(res.json(), { submissionId: hash, receivedAt: new Date(FIXED_NOW).toISOString(), status: 'received' });

  assert.equal(intake.sink.envelopes.length, 1);
  const envelope = intake.sink.envelopes[0]!;
  assert.equal(envelope.submissionHash, hash);
  assert.equal(envelope.source, 'http');
  assert.equal(envelope.sourceClient, 'portal');
  assert.equal(envelope.sourceReference, application.sourceReference);
  assert.equal(envelope.receivedAt, FIXED_NOW);
  assert.deepEqual(envelope.payload.inline, canonicalPayload(application).bytes);
  assert.equal(envelope.payload.objectKey, null);
  assert.match(envelope.traceparent!, /^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01$/, 'continues the caller trace');
  assert.deepEqual(intake.store.puts, [], 'the common case makes no object-store call');
});

test('the hash ignores key order and whitespace: the same application twice has the same id', async (t) => {
  const intake = await testIntake();
  t.after(() => intake.app.close());
  const application = sampleApplications()[1]! as unknown as Record<string, unknown>;
  const reordered = Object.fromEntries(Object.entries(application).reverse());
  const a = await intake.app.inject({ method: 'POST', url: '/v1/submissions', headers: bearer(intake.keys.portal), payload: application });
  const b = await intake.app.inject({ method: 'POST', url: '/v1/submissions', headers: { ...bearer(intake.keys.portal), 'content-type': 'application/json' }, payload: JSON.stringify(reordered, null, 4) });
  assert.equal(a.json<{ submissionId: string }>().submissionId, b.json<{ submissionId: string }>().submissionId);
});

test('a payload over the inline limit is claim-checked to raw/<sha256> and the envelope points to it', async (t) => {
  const intake = await testIntake({ INTAKE_INLINE_LIMIT_BYTES: '1024' });
  t.after(() => intake.app.close());
  const application = { ...sampleApplications()[0]!, description: 'Scope narrative. '.repeat(200) };
  const res = await intake.app.inject({ method: 'POST', url: '/v1/submissions', headers: bearer(intake.keys.portal), payload: application });
  assert.equal(res.statusCode, 202);
  const { hash, bytes } = canonicalPayload(application);
  const envelope = intake.sink.envelopes[0]!;
  assert.equal(envelope.payload.inline, null);
  assert.equal(envelope.payload.objectKey, `raw/${hash}`);
  assert.deepEqual(intake.store.objects.get(`raw/${hash}`), bytes);
});

test('a multipart submission stores each attachment under attachments/<sha256> and lists it in the envelope', async (t) => {
  const intake = await testIntake();
  t.after(() => intake.app.close());
  const pdf = Buffer.concat([Buffer.from('%PDF-1.7\n'), randomBytes(200_000)]);
  const drawing = randomBytes(5000);
  const body = await multipartBody(sampleApplications()[2]!, [
    { field: 'site-plan', name: 'site plan.pdf', type: 'application/pdf', bytes: pdf },
    { field: 'attachment', name: '../../etc/drawing.png', type: 'image/png', bytes: drawing },
  ]);
  const res = await intake.app.inject({ method: 'POST', url: '/v1/submissions', headers: { ...bearer(intake.keys.portal), 'content-type': body.contentType }, payload: body.payload });
  assert.equal(res.statusCode, 202, res.body);
  const envelope = intake.sink.envelopes[0]!;
  // The identity covers the attachments: the payload keeps its own hash, the submission another.
  const payloadHash = canonicalPayload(sampleApplications()[2]).hash;
  assert.equal(envelope.payload.sha256, payloadHash);
  assert.equal(envelope.submissionHash, submissionHashOf(payloadHash, [{ kind: 'site-plan', sha256: sha256Hex(pdf) }, { kind: 'other', sha256: sha256Hex(drawing) }]));
  assert.notEqual(envelope.submissionHash, payloadHash);
  assert.equal(res.json<{ submissionId: string }>().submissionId, envelope.submissionHash);
  assert.deepEqual(envelope.attachments, [
    { name: 'site plan.pdf', kind: 'site-plan', contentType: 'application/pdf', size: pdf.length, sha256: sha256Hex(pdf), objectKey: `attachments/${sha256Hex(pdf)}` },
    { name: 'drawing.png', kind: 'other', contentType: 'image/png', size: drawing.length, sha256: sha256Hex(drawing), objectKey: `attachments/${sha256Hex(drawing)}` },
  ]);
  assert.deepEqual(intake.store.objects.get(`attachments/${sha256Hex(pdf)}`), pdf);
  assert.deepEqual(intake.store.objects.get(`attachments/${sha256Hex(drawing)}`), drawing);
});

test('the application part may be a plain form field', async (t) => {
  const intake = await testIntake();
  t.after(() => intake.app.close());
  const body = await multipartBody(sampleApplications()[0]!, [], 'field');
  const res = await intake.app.inject({ method: 'POST', url: '/v1/submissions', headers: { ...bearer(intake.keys.portal), 'content-type': body.contentType }, payload: body.payload });
  assert.equal(res.statusCode, 202, res.body);
});

test('GET /v1/submissions/{id} shows an accepted submission as received with its timeline; an unknown one is 404', async (t) => {
  const intake = await testIntake();
  t.after(() => intake.app.close());
  const posted = await intake.app.inject({ method: 'POST', url: '/v1/submissions', headers: bearer(intake.keys.portal), payload: sampleApplications()[0] });
  const location = posted.headers.location as string;
  const res = await intake.app.inject({ method: 'GET', url: location, headers: { 'x-api-key': intake.keys.reader } });
  assert.equal(res.statusCode, 200);
  const at = new Date(FIXED_NOW).toISOString();
  assert.deepEqual(res.json(), { submissionId: location.split('/').at(-1), status: 'received', receivedAt: at, timeline: [{ state: 'received', at }] });

  const unknown = await intake.app.inject({ method: 'GET', url: `/v1/submissions/${'a'.repeat(64)}`, headers: bearer(intake.keys.reader) });
  assert.equal(unknown.statusCode, 404);
  const malformed = await intake.app.inject({ method: 'GET', url: '/v1/submissions/not-a-hash', headers: bearer(intake.keys.reader) });
  assert.equal(malformed.statusCode, 404);
});

test('a storage failure is 503 with Retry-After, and an Idempotency-Key reservation is released so a retry works', async (t) => {
  const intake = await testIntake();
  t.after(() => intake.app.close());
  const headers = { ...bearer(intake.keys.portal), 'idempotency-key': '"retry-after-failure"' };
  intake.sink.failWith = new Error('broker unreachable');
  const failed = await intake.app.inject({ method: 'POST', url: '/v1/submissions', headers, payload: sampleApplications()[0] });
  assert.equal(failed.statusCode, 503);
  assert.equal(failed.headers['retry-after'], '5');
  assert.equal(failed.json<{ type: string }>().type, 'urn:permitflow:problem:unavailable');
  assert.equal(intake.idempotency.entries.size, 0, 'reservation released');

  intake.sink.failWith = undefined;
  const retried = await intake.app.inject({ method: 'POST', url: '/v1/submissions', headers, payload: sampleApplications()[0] });
  assert.equal(retried.statusCode, 202);
});

test('a produce that never completes is answered 503 after the produce timeout', async (t) => {
  const intake = await testIntake({ INTAKE_PRODUCE_TIMEOUT_MS: '50' });
  const release = intake.sink.hold();
  t.after(async () => {
    release();
    await intake.app.close();
  });
  const res = await intake.app.inject({ method: 'POST', url: '/v1/submissions', headers: bearer(intake.keys.portal), payload: sampleApplications()[0] });
  assert.equal(res.statusCode, 503);
});

test('a status look-up answers from the first source that knows the submission, passing over one that fails', async () => {
  const errors: unknown[] = [];
  const received: SubmissionStatus = { submissionId: 'h', status: 'received', receivedAt: 1, timeline: [{ state: 'received', at: 1 }] };
  const accepted: SubmissionStatus = { ...received, status: 'accepted' };
  const failing: SubmissionStatusSource = { get: () => Promise.reject(new Error('read model down')) };
  const unknown: SubmissionStatusSource = { get: () => Promise.resolve(undefined) };
  const knows = (status: SubmissionStatus): SubmissionStatusSource => ({ get: () => Promise.resolve(status) });

  assert.equal((await firstKnownStatus([knows(accepted), knows(received)], (e) => errors.push(e)).get('h'))?.status, 'accepted');
  assert.equal((await firstKnownStatus([unknown, knows(received)], (e) => errors.push(e)).get('h'))?.status, 'received');
  assert.equal(errors.length, 0, 'nothing failed');
  assert.equal((await firstKnownStatus([failing, knows(received)], (e) => errors.push(e)).get('h'))?.status, 'received');
  assert.equal(errors.length, 1, 'the failure is reported');
  assert.equal(await firstKnownStatus([unknown, unknown], (e) => errors.push(e)).get('h'), undefined);
});

test('attachment names lose their path and any control or invisible formatting character', () => {
  assert.equal(sanitiseFileName('C:\\plans\\site plan.pdf'), 'site plan.pdf');
  assert.equal(sanitiseFileName('../../etc/passwd'), 'passwd');
  assert.equal(sanitiseFileName('invoice\u202Efdp.exe'), 'invoice_fdp.exe', 'a right-to-left override cannot disguise the extension');
  assert.equal(sanitiseFileName('zero\u200Bwidth.pdf'), 'zero_width.pdf');
  assert.equal(sanitiseFileName('bell\u0007.pdf'), 'bell_.pdf');
  assert.equal(sanitiseFileName('..'), 'attachment');
  assert.equal(sanitiseFileName(''), 'attachment');
});
