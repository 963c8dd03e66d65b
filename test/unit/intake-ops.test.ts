/**
 * Operational endpoints, and the OpenAPI document checked against real responses of every
 * documented kind.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import type { InjectOptions } from 'fastify';
import { multipartBody, openApiChecker, testIntake, type SeenResponse } from '../support/intake.ts';
import { sampleApplications } from '../support/samples.ts';

const addFormats = addFormatsModule as unknown as (typeof addFormatsModule)['default'];

test('healthz is 200; readyz is 200 while every dependency answers and 503 naming the one that does not', async (t) => {
  const intake = await testIntake();
  t.after(() => intake.app.close());
  assert.deepEqual((await intake.app.inject({ method: 'GET', url: '/healthz' })).json(), { status: 'ok' });
  const ready = await intake.app.inject({ method: 'GET', url: '/readyz' });
  assert.equal(ready.statusCode, 200);
  assert.deepEqual(ready.json(), { status: 'ready', checks: { kafka: 'ok', objectStore: 'ok' } });
  intake.store.failing = true;
  const unready = await intake.app.inject({ method: 'GET', url: '/readyz' });
  assert.equal(unready.statusCode, 503);
  assert.deepEqual(unready.json(), { status: 'unready', checks: { kafka: 'ok', objectStore: 'unavailable: object store down' } });
});

test('a readiness check that hangs counts as unavailable after its timeout', async (t) => {
  const intake = await testIntake({}, { readiness: { kafka: () => new Promise(() => undefined) } });
  t.after(() => intake.app.close());
  const res = await intake.app.inject({ method: 'GET', url: '/readyz' });
  assert.equal(res.statusCode, 503);
  assert.match(res.json<{ checks: { kafka: string } }>().checks.kafka, /no answer in 2000 ms/);
});

test('metrics show request durations by route and status, and accepted submissions', async (t) => {
  const intake = await testIntake();
  t.after(() => intake.app.close());
  await intake.app.inject({ method: 'POST', url: '/v1/submissions', headers: { authorization: `Bearer ${intake.keys.portal}` }, payload: sampleApplications()[0] });
  await intake.app.inject({ method: 'POST', url: '/v1/submissions', payload: {} });
  const res = await intake.app.inject({ method: 'GET', url: '/metrics' });
  assert.equal(res.statusCode, 200);
  assert.match(res.body, /permitflow_intake_http_request_duration_seconds_count\{method="POST",route="\/v1\/submissions",status_code="202"\} 1/);
  assert.match(res.body, /permitflow_intake_http_request_duration_seconds_count\{method="POST",route="\/v1\/submissions",status_code="401"\} 1/);
  assert.match(res.body, /permitflow_intake_accepted_total\{payload="inline"\} 1/);
});

test('the OpenAPI document is 3.1 and its schemas compile', async (t) => {
  const intake = await testIntake();
  t.after(() => intake.app.close());
  const doc = (await intake.app.inject({ method: 'GET', url: '/openapi.json' })).json<{ openapi: string; components: { schemas: Record<string, object> }; paths: Record<string, unknown>; webhooks: Record<string, unknown> }>();
  assert.equal(doc.openapi, '3.1.0');
  assert.deepEqual(Object.keys(doc.paths).sort(), ['/healthz', '/metrics', '/openapi.json', '/readyz', '/v1/submissions', '/v1/submissions/{id}']);
  assert.deepEqual(Object.keys(doc.webhooks).sort(), ['batch.completed', 'submission.accepted', 'submission.received', 'submission.rejected']);
  const ajv = new Ajv2020({ strict: false });
  addFormats(ajv);
  for (const [name, schema] of Object.entries(doc.components.schemas)) assert.doesNotThrow(() => ajv.compile(schema), name);
});

test('every kind of real response matches the OpenAPI document', async (t) => {
  const intake = await testIntake({ INTAKE_BODY_LIMIT_BYTES: '100000' });
  t.after(() => intake.app.close());
  const doc = (await intake.app.inject({ method: 'GET', url: '/openapi.json' })).json<Record<string, unknown>>();
  const check = openApiChecker(doc);
  const seen = new Set<string>();
  const call = async (path: string, request: InjectOptions) => {
    const res = await intake.app.inject(request);
    const r: SeenResponse = { method: request.method ?? 'GET', path, status: res.statusCode, headers: res.headers, body: res.body };
    check(r);
    seen.add(`${r.method} ${path} ${r.status}`);
    return res;
  };
  const app = sampleApplications()[0]!;
  const submit = (headers: Record<string, string>, payload?: InjectOptions['payload']): InjectOptions => ({ method: 'POST', url: '/v1/submissions', headers: { authorization: `Bearer ${intake.keys.portal}`, ...headers }, ...(payload !== undefined && { payload }) });

  const accepted = await call('/v1/submissions', submit({ 'idempotency-key': '"oas-1"' }, app));
  await call('/v1/submissions', submit({ 'idempotency-key': '"oas-1"' }, app));
  const form = await multipartBody(sampleApplications()[1], [{ field: 'site-plan', name: 'p.pdf', type: 'application/pdf', bytes: Buffer.from('%PDF-1.7') }]);
  await call('/v1/submissions', submit({ 'content-type': form.contentType }, form.payload));
  await call('/v1/submissions', submit({ 'content-type': 'application/json' }, '{'));
  await call('/v1/submissions', { method: 'POST', url: '/v1/submissions', payload: app });
  await call('/v1/submissions', { method: 'POST', url: '/v1/submissions', headers: { 'x-api-key': intake.keys.reader }, payload: app });
  await call('/v1/submissions', submit({ 'idempotency-key': '"oas-1"' }, sampleApplications()[2]));
  await call('/v1/submissions', submit({ 'content-type': 'application/json' }, JSON.stringify({ ...app, description: 'x'.repeat(200_000) })));
  await call('/v1/submissions', submit({ 'content-type': 'text/csv' }, 'a,b'));
  await call('/v1/submissions', submit({}, { ...app, jurisdiction: 7 }));
  const release = intake.sink.hold();
  const inFlight = intake.app.inject(submit({ 'idempotency-key': '"oas-2"' }, sampleApplications()[3]));
  while (![...intake.idempotency.entries.values()].some((e) => e.state === 'in-flight')) await new Promise((r) => setImmediate(r));
  await call('/v1/submissions', submit({ 'idempotency-key': '"oas-2"' }, sampleApplications()[3]));
  release();
  await inFlight;
  intake.rateLimiter.decisions.set('portal', { allowed: false, retryAfterMs: 900 });
  await call('/v1/submissions', submit({}, app));
  await call('/v1/submissions/{id}', { method: 'GET', url: `/v1/submissions/${'b'.repeat(64)}`, headers: { authorization: `Bearer ${intake.keys.portal}` } });
  intake.rateLimiter.decisions.clear();
  intake.pressure.current = { shed: true, retryAfterS: 9, group: 'g', lag: 10 };
  await call('/v1/submissions', submit({}, app));

  await call('/v1/submissions/{id}', { method: 'GET', url: String(accepted.headers.location), headers: { authorization: `Bearer ${intake.keys.reader}` } });
  await call('/v1/submissions/{id}', { method: 'GET', url: `/v1/submissions/${'c'.repeat(64)}`, headers: { authorization: `Bearer ${intake.keys.reader}` } });
  await call('/v1/submissions/{id}', { method: 'GET', url: `/v1/submissions/${'c'.repeat(64)}` });
  await call('/v1/submissions/{id}', { method: 'GET', url: `/v1/submissions/${'c'.repeat(64)}`, headers: { authorization: `Bearer ${intake.keys.submitter}` } });
  await call('/healthz', { method: 'GET', url: '/healthz' });
  await call('/readyz', { method: 'GET', url: '/readyz' });
  intake.store.failing = true;
  await call('/readyz', { method: 'GET', url: '/readyz' });
  await call('/metrics', { method: 'GET', url: '/metrics' });
  await call('/openapi.json', { method: 'GET', url: '/openapi.json' });

  // Every response the document lists was produced and checked.
  const documented = Object.entries(doc.paths as Record<string, Record<string, { responses: Record<string, unknown> }>>).flatMap(([path, ops]) =>
    Object.entries(ops).flatMap(([method, op]) => Object.keys(op.responses).map((status) => `${method.toUpperCase()} ${path} ${status}`)),
  );
  assert.deepEqual(documented.filter((d) => !seen.has(d)), []);
});
