import assert from 'node:assert/strict';
import { test } from 'node:test';
import { canonicalPayload, submissionHashOf } from '../../domain/hashing.ts';
import { loadPayload, storePayload } from '../../connectors/claim-check.ts';

test('the submission hash ignores key order and whitespace (RFC 8785)', () => {
  const a = canonicalPayload({ b: 1, a: { y: [1, 2], x: 'é' } });
  const b = canonicalPayload(JSON.parse('{ "a": { "x": "\\u00e9", "y": [1, 2] },\n "b": 1.0 }'));
  assert.equal(a.hash, b.hash);
  assert.equal(a.bytes.toString(), '{"a":{"x":"é","y":[1,2]},"b":1}');
  assert.notEqual(a.hash, canonicalPayload({ b: 2, a: { y: [1, 2], x: 'é' } }).hash);
});

test('a small payload travels inline, with no object store needed', async () => {
  const payload = canonicalPayload({ hello: 'world' });
  const ref = await storePayload(undefined, payload, 64 * 1024);
  assert.equal(ref.objectKey, null);
  assert.deepEqual(ref.inline, payload.bytes);
  assert.deepEqual(await loadPayload(undefined, ref), payload.bytes);
});

test('a payload that does not match its hash is refused', async () => {
  const payload = canonicalPayload({ hello: 'world' });
  const ref = await storePayload(undefined, payload, 64 * 1024);
  await assert.rejects(loadPayload(undefined, { ...ref, inline: Buffer.from('{"hello":"mars"}') }), /PF_PAYLOAD_CORRUPT|does not match/);
});

test('a large payload without an object store is a clear error', async () => {
  await assert.rejects(storePayload(undefined, canonicalPayload({ big: 'x'.repeat(100) }), 10), /exceeds the inline limit/);
});

test('the submission hash is the payload hash without attachments, and covers the kinds and digests of attachments', () => {
  const payload = canonicalPayload({ permit: 1 }).hash;
  const plan = { kind: 'site-plan', sha256: 'a'.repeat(64) };
  const drawings = { kind: 'drawings', sha256: 'b'.repeat(64) };
  assert.equal(submissionHashOf(payload, []), payload);
  const both = submissionHashOf(payload, [plan, drawings]);
  assert.match(both, /^[0-9a-f]{64}$/);
  assert.notEqual(both, payload);
  assert.equal(submissionHashOf(payload, [drawings, plan]), both, 'order of attachments does not matter');
  assert.notEqual(submissionHashOf(payload, [plan]), both, 'another attachment set is another submission');
  assert.notEqual(submissionHashOf(payload, [plan, { ...drawings, kind: 'other' }]), both, 'the kind is part of the identity');
  assert.notEqual(submissionHashOf(canonicalPayload({ permit: 2 }).hash, [plan, drawings]), both);
});
