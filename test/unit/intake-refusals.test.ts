/**
 * Every kind of bad request gets its 4xx (or 503) as problem+json, and nothing reaches the
 * object store or the raw topic.
 */
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { test, type TestContext } from 'node:test';
import type { InjectOptions } from 'fastify';
import { multipartBody, testIntake, type TestIntake } from '../support/intake.ts';
import { sampleApplications } from '../support/samples.ts';

interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail?: string;
  errors?: { pointer: string; detail: string }[];
}

async function refused(t: TestContext, intake: TestIntake, request: InjectOptions, status: number, check?: (body: ProblemBody, headers: Record<string, unknown>) => void): Promise<void> {
  const res = await intake.app.inject(request);
  assert.equal(res.statusCode, status, `${t.name}: ${res.body}`);
  assert.match(String(res.headers['content-type']), /^application\/problem\+json/);
  const body = res.json<ProblemBody>();
  assert.equal(body.status, status);
  assert.ok(body.title.length > 0);
  check?.(body, res.headers);
  assert.deepEqual(intake.sink.envelopes, [], 'nothing produced');
  assert.deepEqual(intake.store.puts, [], 'nothing stored');
}

const app = sampleApplications()[0]!;
const post = (headers: Record<string, string>, payload?: InjectOptions['payload']): InjectOptions => ({ method: 'POST', url: '/v1/submissions', headers, ...(payload !== undefined && { payload }) });

test('no API key: 401 with WWW-Authenticate', async (t) => {
  const intake = await testIntake();
  t.after(() => intake.app.close());
  await refused(t, intake, post({}, app), 401, (_b, h) => assert.equal(h['www-authenticate'], 'Bearer realm="permitflow"'));
});

test('an unknown or malformed key: 401 invalid_token, by either header', async (t) => {
  const intake = await testIntake();
  t.after(() => intake.app.close());
  const forged = intake.keys.portal.slice(0, -4) + 'AAAA';
  await refused(t, intake, post({ authorization: `Bearer ${forged}` }, app), 401, (_b, h) => assert.match(String(h['www-authenticate']), /error="invalid_token"/));
  await refused(t, intake, post({ 'x-api-key': 'guess' }, app), 401);
  await refused(t, intake, post({ authorization: 'Basic dXNlcjpwYXNz' }, app), 401);
});

test('a key without the needed scope: 403 naming the scope', async (t) => {
  const intake = await testIntake();
  t.after(() => intake.app.close());
  await refused(t, intake, post({ authorization: `Bearer ${intake.keys.reader}` }, app), 403, (b, h) => {
    assert.equal(b.type, 'urn:permitflow:problem:insufficient-scope');
    assert.match(String(h['www-authenticate']), /error="insufficient_scope", scope="submit"/);
  });
  const res = await intake.app.inject({ method: 'GET', url: `/v1/submissions/${'a'.repeat(64)}`, headers: { authorization: `Bearer ${intake.keys.submitter}` } });
  assert.equal(res.statusCode, 403);
});

test("over the client's rate limit: 429 with Retry-After; the key's own limit is the one applied", async (t) => {
  const intake = await testIntake({ INTAKE_RATE_LIMIT_PER_S: '7' });
  t.after(() => intake.app.close());
  intake.rateLimiter.decisions.set('portal', { allowed: false, retryAfterMs: 1500 });
  await refused(t, intake, post({ authorization: `Bearer ${intake.keys.portal}` }, app), 429, (b, h) => {
    assert.equal(h['retry-after'], '2');
    assert.equal(b.type, 'urn:permitflow:problem:rate-limited');
  });
  assert.deepEqual(intake.rateLimiter.calls, [{ client: 'portal', perSecond: 7 }]);
});

test('lag above the hard limit: 503 with the computed Retry-After (below it, see intake-fair-shedding)', async (t) => {
  const intake = await testIntake();
  t.after(() => intake.app.close());
  intake.pressure.current = { shed: true, retryAfterS: 42, group: 'permitflow.windower', lag: 250_000 };
  await refused(t, intake, post({ authorization: `Bearer ${intake.keys.portal}` }, app), 503, (b, h) => {
    assert.equal(h['retry-after'], '42');
    assert.equal(b.type, 'urn:permitflow:problem:backpressure');
  });
  // Reads are not shed.
  const read = await intake.app.inject({ method: 'GET', url: `/v1/submissions/${'a'.repeat(64)}`, headers: { authorization: `Bearer ${intake.keys.reader}` } });
  assert.equal(read.statusCode, 404);
});

test('a body over the limit: 413, by declared length or while streaming', async (t) => {
  const intake = await testIntake({ INTAKE_BODY_LIMIT_BYTES: '4096' });
  t.after(() => intake.app.close());
  const auth = { authorization: `Bearer ${intake.keys.portal}` };
  const big = { ...app, description: 'x'.repeat(5000) };
  await refused(t, intake, post({ ...auth, 'content-type': 'application/json' }, JSON.stringify(big)), 413);
  const form = await multipartBody(app, [{ field: 'drawings', name: 'd.pdf', type: 'application/pdf', bytes: Buffer.alloc(10_000) }]);
  await refused(t, intake, post({ ...auth, 'content-type': form.contentType }, form.payload), 413);
  // Chunked, no Content-Length: the limit is enforced while the attachment streams.
  await refused(t, intake, post({ ...auth, 'content-type': form.contentType }, Readable.from([form.payload])), 413);
});

test('an unsupported or missing media type: 415 with Accept-Post', async (t) => {
  const intake = await testIntake();
  t.after(() => intake.app.close());
  const auth = { authorization: `Bearer ${intake.keys.portal}` };
  await refused(t, intake, post({ ...auth, 'content-type': 'text/plain' }, JSON.stringify(app)), 415, (_b, h) => assert.equal(h['accept-post'], 'application/json, multipart/form-data'));
  await refused(t, intake, post({ ...auth, 'content-type': 'application/xml' }, '<permit/>'), 415);
  await refused(t, intake, post(auth), 415);
});

test('malformed JSON, an empty body and prototype poisoning: 400', async (t) => {
  const intake = await testIntake();
  t.after(() => intake.app.close());
  const json = { authorization: `Bearer ${intake.keys.portal}`, 'content-type': 'application/json' };
  await refused(t, intake, post(json, '{"jurisdiction": '), 400, (b) => assert.equal(b.type, 'urn:permitflow:problem:invalid-json'));
  await refused(t, intake, post(json, ''), 400);
  await refused(t, intake, post(json, '{"__proto__": {"admin": true}}'), 400);
});

test('wrong types, missing fields and unknown fields: 422 with a JSON pointer per problem', async (t) => {
  const intake = await testIntake();
  t.after(() => intake.app.close());
  const { description: _omitted, ...withoutDescription } = app;
  const bad = { ...withoutDescription, project: { ...app.project, estimatedCost: '86500' }, site: { ...app.site, latitude: 'north' }, notes: 'x' };
  await refused(t, intake, post({ authorization: `Bearer ${intake.keys.portal}` }, bad), 422, (b) => {
    assert.equal(b.type, 'urn:permitflow:problem:validation-failed');
    assert.deepEqual(b.errors?.map((e) => e.pointer).sort(), ['/description', '/notes', '/project/estimatedCost', '/site/latitude']);
  });
  await refused(t, intake, post({ authorization: `Bearer ${intake.keys.portal}`, 'content-type': 'application/json' }, '[1, 2]'), 422);
});

test('multipart without an application part, with a stray field, too many files or bad JSON: 4xx', async (t) => {
  const intake = await testIntake({ INTAKE_MAX_ATTACHMENTS: '1' });
  t.after(() => intake.app.close());
  const auth = { authorization: `Bearer ${intake.keys.portal}` };
  const file = { field: 'drawings', name: 'd.pdf', type: 'application/pdf', bytes: Buffer.from('%PDF') };

  const noApplication = new FormData();
  noApplication.append('drawings', new Blob([file.bytes]), 'd.pdf');
  const req = new Request('http://x/', { method: 'POST', body: noApplication });
  await refused(t, intake, post({ ...auth, 'content-type': req.headers.get('content-type')! }, Buffer.from(await req.arrayBuffer())), 400, (b) => assert.equal(b.type, 'urn:permitflow:problem:invalid-multipart'));

  const strayField = new FormData();
  strayField.append('application', JSON.stringify(app));
  strayField.append('comment', 'please hurry');
  const strayReq = new Request('http://x/', { method: 'POST', body: strayField });
  await refused(t, intake, post({ ...auth, 'content-type': strayReq.headers.get('content-type')! }, Buffer.from(await strayReq.arrayBuffer())), 400, (b) => assert.match(b.detail!, /unexpected field "comment"/));

  const twoFiles = await multipartBody(app, [file, { ...file, name: 'e.pdf', bytes: Buffer.from('%PDF-2') }]);
  await refused(t, intake, post({ ...auth, 'content-type': twoFiles.contentType }, twoFiles.payload), 413);

  const badJson = await multipartBody('{"jurisdiction":', [file]);
  await refused(t, intake, post({ ...auth, 'content-type': badJson.contentType }, badJson.payload), 400);

  const invalid = await multipartBody({ jurisdiction: 'x' }, [file]);
  await refused(t, intake, post({ ...auth, 'content-type': invalid.contentType }, invalid.payload), 422);
  // Broken framing needs a real socket (inject() ends the request differently): see intake-server.test.ts.
});

test('an unknown route is a problem+json 404', async (t) => {
  const intake = await testIntake();
  t.after(() => intake.app.close());
  await refused(t, intake, { method: 'GET', url: '/v2/anything' }, 404);
});
