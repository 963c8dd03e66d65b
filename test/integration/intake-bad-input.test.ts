/**
 * Bad input against the real intake on the real stack: each gets its 4xx (or a 408 close),
 * nothing reaches MinIO or the raw topic, and the server stays up.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { test } from 'node:test';
import { canonicalPayload, sha256Hex } from '../../domain/hashing.ts';
import { multipartBody } from '../support/intake.ts';
import { intakeOnStack } from '../support/intake-stack.ts';
import { sampleApplications } from '../support/samples.ts';

/** Sends raw bytes and resolves with what the server sent before closing the connection. */
function rawExchange(url: string, write: (send: (s: string) => void) => void): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port) }, () => write((s) => socket.writable && socket.write(s)));
    let data = '';
    socket.on('data', (c: Buffer) => (data += c.toString('latin1')));
    socket.on('close', () => resolve(data));
    socket.on('error', reject);
  });
}

test('every bad input gets its 4xx, nothing is written to MinIO or Kafka, and the server stays up', async (t) => {
  const s = await intakeOnStack(t, { INTAKE_BODY_LIMIT_BYTES: String(1024 * 1024), INTAKE_MAX_HEADER_BYTES: '8192', INTAKE_HEADERS_TIMEOUT_MS: '1000', INTAKE_REQUEST_TIMEOUT_MS: '2000' });
  const url = `${s.intake.url}/v1/submissions`;
  const auth = { authorization: `Bearer ${s.keys.portal}` };
  const json = { ...auth, 'content-type': 'application/json' };
  const large = { ...sampleApplications()[0]!, description: `narrative ${randomBytes(8).toString('hex')} `.repeat(8000) };
  const drawing = randomBytes(4000);
  const invalidWithDrawing = await multipartBody({ ...large, project: { estimatedCost: 'lots' } }, [{ field: 'drawings', name: 'a.pdf', type: 'application/pdf', bytes: drawing }]);
  const oversize = await multipartBody(sampleApplications()[0], [{ field: 'drawings', name: 'big.pdf', type: 'application/pdf', bytes: randomBytes(1_200_000) }]);
  const { description: _d, ...missingField } = sampleApplications()[0]!;

  const cases: [string, RequestInit, number][] = [
    ['malformed JSON', { headers: json, body: '{"jurisdiction": "us-or-cedar-county",' }, 400],
    ['wrong types', { headers: json, body: JSON.stringify({ ...sampleApplications()[0], project: { estimatedCost: '86500' } }) }, 422],
    ['a missing required field', { headers: json, body: JSON.stringify(missingField) }, 422],
    ['an invalid large payload with an attachment', { headers: { ...auth, 'content-type': invalidWithDrawing.contentType }, body: invalidWithDrawing.payload }, 422],
    ['an oversize body', { headers: { ...auth, 'content-type': oversize.contentType }, body: oversize.payload }, 413],
    ['a wrong content type', { headers: { ...auth, 'content-type': 'application/x-www-form-urlencoded' }, body: 'jurisdiction=x' }, 415],
    ['no API key', { headers: { 'content-type': 'application/json' }, body: JSON.stringify(sampleApplications()[0]) }, 401],
    ['a wrong API key', { headers: { authorization: `Bearer pfk_000000000000_${'A'.repeat(43)}`, 'content-type': 'application/json' }, body: JSON.stringify(sampleApplications()[0]) }, 401],
    ['a key without the submit scope', { headers: { authorization: `Bearer ${s.keys.reader}`, 'content-type': 'application/json' }, body: JSON.stringify(sampleApplications()[0]) }, 403],
  ];
  for (const [what, init, status] of cases) {
    const res = await fetch(url, { method: 'POST', ...init });
    assert.equal(res.status, status, `${what}: ${await res.clone().text()}`);
    assert.match(res.headers.get('content-type') ?? '', /^application\/problem\+json/, what);
    await res.arrayBuffer();
  }

  const hugeHeaders = await rawExchange(s.intake.url, (send) => send(`POST /v1/submissions HTTP/1.1\r\nHost: x\r\nX-Filler: ${'a'.repeat(10_000)}\r\n\r\n`));
  assert.match(hugeHeaders, /^HTTP\/1\.1 431 /);
  const slowHeaders = await rawExchange(s.intake.url, (send) => {
    send('POST /v1/submissions HTTP/1.1\r\nHost: x\r\n');
    const drip = setInterval(() => send('X-Slow: 1\r\n'), 100);
    setTimeout(() => clearInterval(drip), 5000).unref();
  });
  assert.match(slowHeaders, /^HTTP\/1\.1 408 /);
  const slowBody = await rawExchange(s.intake.url, (send) => send(`POST /v1/submissions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${s.keys.portal}\r\nContent-Type: application/json\r\nContent-Length: 4000\r\n\r\n{"jurisdiction":`));
  assert.match(slowBody, /^HTTP\/1\.1 408 /);

  assert.equal(await s.rawCount(), 0, 'nothing on the raw topic');
  assert.equal(await s.store.exists(`raw/${canonicalPayload({ ...large, project: { estimatedCost: 'lots' } }).hash}`), false);
  assert.equal(await s.store.exists(`attachments/${sha256Hex(drawing)}`), false, 'the attachment of a refused submission is not stored');

  const health = await fetch(`${s.intake.url}/healthz`);
  assert.equal(health.status, 200);
  const ok = await fetch(url, { method: 'POST', headers: json, body: JSON.stringify(sampleApplications()[1]) });
  assert.equal(ok.status, 202, 'still accepting after all that');
});

test('seen failures 2 and the 1e14 fee of issue 14, the intake side: a 3 KB sourceReference and an amountPaid of 1e14 are 422s pointing at the field, and nothing reaches the raw topic', async (t) => {
  const s = await intakeOnStack(t);
  const headers = { authorization: `Bearer ${s.keys.portal}`, 'content-type': 'application/json' };
  const cases: [unknown, string][] = [
    [{ ...sampleApplications()[0]!, sourceReference: randomBytes(1500).toString('hex') }, '/sourceReference'],
    [{ ...sampleApplications()[0]!, payment: { amountPaid: 1e14, currency: 'USD' } }, '/payment/amountPaid'],
  ];
  for (const [body, pointer] of cases) {
    const res = await fetch(`${s.intake.url}/v1/submissions`, { method: 'POST', headers, body: JSON.stringify(body) });
    const problem = (await res.json()) as { errors?: { pointer: string }[] };
    assert.equal(res.status, 422, JSON.stringify(problem));
    assert.deepEqual(problem.errors?.map((e) => e.pointer), [pointer]);
  }
  assert.equal(await s.rawCount(), 0);
});
