/**
 * Idempotency-Key semantics (IETF httpapi draft) through the app, with the in-memory store that
 * shares the Redis store's decision function.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fingerprintOf, parseIdempotencyKey } from '../../connectors/intake/idempotency.ts';
import { testIntake } from '../support/intake.ts';
import { sampleApplications } from '../support/samples.ts';

const post = (key: string, idempotencyKey: string | undefined, payload: unknown) => ({
  method: 'POST' as const,
  url: '/v1/submissions',
  headers: { authorization: `Bearer ${key}`, ...(idempotencyKey !== undefined && { 'idempotency-key': idempotencyKey }) },
  payload: payload as object,
});

test('the key is an sf-string (or a bare token) of printable ASCII', () => {
  assert.equal(parseIdempotencyKey('"8e03978e-40d5-43e8-bc93-6894a57f9324"'), '8e03978e-40d5-43e8-bc93-6894a57f9324');
  assert.equal(parseIdempotencyKey('abc-123'), 'abc-123');
  assert.equal(parseIdempotencyKey('""'), undefined);
  assert.equal(parseIdempotencyKey('"with space"'), undefined);
  assert.equal(parseIdempotencyKey(`"${'x'.repeat(256)}"`), undefined);
});

test('the fingerprint covers the payload and every attachment, in any order', () => {
  const a = { sha256: '1'.repeat(64), name: 'a.pdf', kind: 'site-plan', contentType: 'application/pdf' };
  const b = { sha256: '2'.repeat(64), name: 'b.pdf', kind: 'drawings', contentType: 'application/pdf' };
  assert.equal(fingerprintOf('h', []), 'h');
  assert.equal(fingerprintOf('h', [a, b]), fingerprintOf('h', [b, a]));
  assert.notEqual(fingerprintOf('h', [a]), fingerprintOf('h', [a, b]));
  assert.notEqual(fingerprintOf('h', [a]), fingerprintOf('h', [{ ...a, name: 'other.pdf' }]));
});

test('the same key and body replays the first response; nothing is produced twice', async (t) => {
  const intake = await testIntake();
  t.after(() => intake.app.close());
  const first = await intake.app.inject(post(intake.keys.portal, '"k-1"', sampleApplications()[0]));
  // Another key order: the same canonical body.
  const reordered = Object.fromEntries(Object.entries(sampleApplications()[0]!).reverse());
  const again = await intake.app.inject(post(intake.keys.portal, '"k-1"', reordered));
  assert.equal(first.statusCode, 202);
  assert.equal(again.statusCode, 202);
  assert.equal(again.body, first.body);
  assert.equal(again.headers.location, first.headers.location);
  assert.equal(again.headers['idempotent-replayed'], 'true');
  assert.equal(first.headers['idempotent-replayed'], undefined);
  assert.equal(intake.sink.envelopes.length, 1);
});

test('the same key with a different body is 422', async (t) => {
  const intake = await testIntake();
  t.after(() => intake.app.close());
  await intake.app.inject(post(intake.keys.portal, '"k-2"', sampleApplications()[0]));
  const res = await intake.app.inject(post(intake.keys.portal, '"k-2"', sampleApplications()[1]));
  assert.equal(res.statusCode, 422);
  assert.equal(res.json<{ type: string }>().type, 'urn:permitflow:problem:idempotency-key-reused');
  assert.equal(intake.sink.envelopes.length, 1);
});

test('a request whose key is still in flight is 409; after completion the key replays', async (t) => {
  const intake = await testIntake();
  t.after(() => intake.app.close());
  const release = intake.sink.hold();
  const first = intake.app.inject(post(intake.keys.portal, '"k-3"', sampleApplications()[0]));
  // Wait until the first request holds the reservation.
  const deadline = Date.now() + 5000;
  while (intake.idempotency.entries.size === 0) {
    if (Date.now() > deadline) throw new Error('the first request never reserved its key');
    await new Promise((r) => setImmediate(r));
  }
  const concurrent = await intake.app.inject(post(intake.keys.portal, '"k-3"', sampleApplications()[0]));
  assert.equal(concurrent.statusCode, 409);
  assert.equal(concurrent.json<{ type: string }>().type, 'urn:permitflow:problem:idempotency-key-in-flight');
  release();
  assert.equal((await first).statusCode, 202);
  const after = await intake.app.inject(post(intake.keys.portal, '"k-3"', sampleApplications()[0]));
  assert.equal(after.headers['idempotent-replayed'], 'true');
  assert.equal(intake.sink.envelopes.length, 1);
});

test('keys are scoped per client: two clients may use the same key', async (t) => {
  const intake = await testIntake();
  t.after(() => intake.app.close());
  const a = await intake.app.inject(post(intake.keys.portal, '"shared"', sampleApplications()[0]));
  const b = await intake.app.inject(post(intake.keys.submitter, '"shared"', sampleApplications()[1]));
  assert.equal(a.statusCode, 202);
  assert.equal(b.statusCode, 202);
  assert.equal(intake.sink.envelopes.length, 2);
});

test('a malformed key is 400 and an invalid body with a key reserves nothing', async (t) => {
  const intake = await testIntake();
  t.after(() => intake.app.close());
  const malformed = await intake.app.inject(post(intake.keys.portal, '"has space"', sampleApplications()[0]));
  assert.equal(malformed.statusCode, 400);
  assert.equal(malformed.json<{ type: string }>().type, 'urn:permitflow:problem:idempotency-key-invalid');
  const invalid = await intake.app.inject(post(intake.keys.portal, '"k-4"', { jurisdiction: 'x' }));
  assert.equal(invalid.statusCode, 422);
  assert.equal(intake.idempotency.entries.size, 0);
});
