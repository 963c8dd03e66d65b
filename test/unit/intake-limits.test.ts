/**
 * Issue 14's limits: every field of the derived JSON Schema is bounded, an over-long field or an
 * absurd amount is a 422 naming the field (not a dead letter or a stalled stage later), the JSON
 * body and the multipart application part have their own small limit, the application part is
 * parsed like a JSON body, hostile input gets a bounded error list, and the file drop holds its
 * mapped rows to the same limits.
 */
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import type { InjectOptions } from 'fastify';
import { compileMapping, type Cells } from '../../connectors/file-drop/mapper.ts';
import { parseMapping } from '../../connectors/file-drop/mapping.ts';
import { permitApplicationJsonSchema, type JsonSchema } from '../../domain/application-schema.ts';
import { createApplicationValidator, hasAtMostNodes } from '../../domain/application-validator.ts';
import { multipartBody, testIntake } from '../support/intake.ts';
import { sampleApplications } from '../support/samples.ts';

const app = sampleApplications()[0]!;
const post = (headers: Record<string, string>, payload: InjectOptions['payload']): InjectOptions => ({ method: 'POST', url: '/v1/submissions', headers, payload });

interface ProblemBody {
  status: number;
  detail?: string;
  errors?: { pointer: string; detail: string }[];
}

/** Every schema node below `schema` with the JSON pointer of the schema path that reaches it. */
function* nodes(schema: JsonSchema, path = ''): Generator<[string, JsonSchema]> {
  yield [path, schema];
  for (const [name, child] of Object.entries((schema.properties ?? {}) as Record<string, JsonSchema>)) yield* nodes(child, `${path}/${name}`);
  if (typeof schema.additionalProperties === 'object') yield* nodes(schema.additionalProperties as JsonSchema, `${path}/{}`);
  if (typeof schema.items === 'object') yield* nodes(schema.items as JsonSchema, `${path}/[]`);
  for (const branch of (schema.anyOf ?? []) as JsonSchema[]) yield* nodes(branch, path);
}

const types = (s: JsonSchema): unknown[] => (Array.isArray(s.type) ? (s.type as unknown[]) : [s.type]);

test('every string, number, map and array of the derived JSON Schema is bounded', () => {
  let strings = 0;
  for (const [path, s] of nodes(permitApplicationJsonSchema())) {
    if (types(s).includes('string') && !Array.isArray(s.enum)) {
      strings++;
      assert.equal(typeof s.maxLength, 'number', `${path} has no maxLength`);
    }
    if (types(s).includes('number') || types(s).includes('integer')) assert.ok(typeof s.maximum === 'number' && typeof s.minimum === 'number', `${path} has no range`);
    if (types(s).includes('object') && typeof s.additionalProperties === 'object') {
      assert.equal(typeof s.maxProperties, 'number', `${path} has no maxProperties`);
      assert.equal(typeof (s.propertyNames as JsonSchema | undefined)?.maxLength, 'number', `${path} has no key length`);
    }
    if (types(s).includes('array')) assert.equal(typeof s.maxItems, 'number', `${path} has no maxItems`);
  }
  assert.ok(strings > 30, `${strings} strings`);
  // 200 characters of UTF-8 stay far below PostgreSQL's 2704-byte index row (seen failure 2).
  assert.equal((permitApplicationJsonSchema().properties as Record<string, JsonSchema>).sourceReference!.maxLength, 200);
});

test('a 3 KB sourceReference, an amountPaid of 1e14 and too many extraFields: 422 with a pointer to each field, nothing produced', async (t) => {
  const intake = await testIntake();
  t.after(() => intake.app.close());
  const auth = { authorization: `Bearer ${intake.keys.portal}`, 'content-type': 'application/json' };
  const cases: [unknown, string][] = [
    [{ ...app, sourceReference: 'R'.repeat(3000) }, '/sourceReference'],
    [{ ...app, payment: { amountPaid: 1e14, currency: 'USD' } }, '/payment/amountPaid'],
    [{ ...app, project: { ...app.project, estimatedCost: 1e300 } }, '/project/estimatedCost'],
    [{ ...app, extraFields: Object.fromEntries(Array.from({ length: 101 }, (_, i) => [`k${i}`, 'v'])) }, '/extraFields'],
    [{ ...app, extraFields: { ['k'.repeat(101)]: 'v' } }, '/extraFields'],
    [{ ...app, extraFields: { note: 'v'.repeat(2001) } }, '/extraFields/note'],
    [{ ...app, applicant: { ...app.applicant, name: 'N'.repeat(201) } }, '/applicant/name'],
    [{ ...app, description: 'D'.repeat(10_001) }, '/description'],
  ];
  for (const [body, pointer] of cases) {
    const res = await intake.app.inject(post(auth, JSON.stringify(body)));
    assert.equal(res.statusCode, 422, `${pointer}: ${res.body}`);
    assert.ok(res.json<ProblemBody>().errors?.some((e) => e.pointer === pointer), `${pointer} in ${res.body}`);
  }
  assert.deepEqual(intake.sink.envelopes, []);
  // The largest values inside the bounds still pass.
  const largest = { ...app, sourceReference: 'R'.repeat(200), description: 'D'.repeat(10_000), payment: { amountPaid: 1e10, currency: 'USD' } };
  assert.equal((await intake.app.inject(post(auth, JSON.stringify(largest)))).statusCode, 202);
});

test('hostile input is answered with a bounded list of reasons, without walking it whole', () => {
  const validate = createApplicationValidator();
  const hostile = { ...app, extraFields: Object.fromEntries(Array.from({ length: 100_000 }, (_, i) => [`k${i}`, 'v'.repeat(3000 * (i % 2))])) };
  const result = validate(hostile);
  assert.equal(result.ok, false);
  if (result.ok) return;
  assert.ok(result.errors.length <= 2, `${result.errors.length} reasons`);
  assert.equal(result.errors[0]?.pointer, '/extraFields');
  // Small invalid applications still get every problem at once.
  const several = validate({ ...app, sourceReference: 'R'.repeat(300), payment: { amountPaid: -1, currency: 'usd' } });
  assert.equal(several.ok, false);
  if (!several.ok) assert.deepEqual(several.errors.map((e) => e.pointer).sort(), ['/payment/amountPaid', '/payment/currency', '/sourceReference']);
  assert.equal(hasAtMostNodes({ a: [1, 2, { b: 3 }] }, 8), true);
  assert.equal(hasAtMostNodes({ a: [1, 2, { b: 3 }] }, 7), false);
});

test('a JSON body over INTAKE_JSON_LIMIT_BYTES is 413 (declared or streamed), far below the multipart limit; so is a larger application part', async (t) => {
  const intake = await testIntake({ INTAKE_JSON_LIMIT_BYTES: '20000' });
  t.after(() => intake.app.close());
  const auth = { authorization: `Bearer ${intake.keys.portal}` };
  const big = JSON.stringify({ ...app, extraFields: { filler: 'x'.repeat(1000) }, padding: ' '.repeat(30_000) });
  const declared = await intake.app.inject(post({ ...auth, 'content-type': 'application/json' }, big));
  assert.equal(declared.statusCode, 413, declared.body);
  const streamed = await intake.app.inject(post({ ...auth, 'content-type': 'application/json' }, Readable.from([Buffer.from(big)])));
  assert.equal(streamed.statusCode, 413, streamed.body);
  for (const as of ['file', 'field'] as const) {
    const form = await multipartBody(big, [], as);
    const res = await intake.app.inject(post({ ...auth, 'content-type': form.contentType }, form.payload));
    assert.equal(res.statusCode, 413, `${as}: ${res.body}`);
  }
  // An attachment may still be far larger than the JSON limit.
  const form = await multipartBody(app, [{ field: 'drawings', name: 'd.pdf', type: 'application/pdf', bytes: Buffer.alloc(100_000, 1) }]);
  assert.equal((await intake.app.inject(post({ ...auth, 'content-type': form.contentType }, form.payload))).statusCode, 202);
  assert.equal(intake.sink.envelopes.length, 1);
});

test('the multipart application part is parsed like a JSON body: prototype poisoning is 400 on both paths', async (t) => {
  const intake = await testIntake();
  t.after(() => intake.app.close());
  const auth = { authorization: `Bearer ${intake.keys.portal}` };
  const poisoned = JSON.stringify(app).replace(/^\{/, '{"__proto__": {"admin": true},');
  const constructorPoisoned = JSON.stringify(app).replace(/^\{/, '{"constructor": {"prototype": {"admin": true}},');
  for (const text of [poisoned, constructorPoisoned]) {
    const json = await intake.app.inject(post({ ...auth, 'content-type': 'application/json' }, text));
    assert.equal(json.statusCode, 400, json.body);
    for (const as of ['file', 'field'] as const) {
      const form = await multipartBody(text, [], as);
      const res = await intake.app.inject(post({ ...auth, 'content-type': form.contentType }, form.payload));
      assert.equal(res.statusCode, 400, `${as}: ${res.body}`);
    }
  }
  assert.deepEqual(intake.sink.envelopes, []);
});

test('the file drop holds mapped rows to the same limits: an over-long reference is a bad row naming the field', () => {
  const mapper = compileMapping(
    parseMapping(
      `
name: limits
reference: Ref
fields:
  jurisdiction: { const: us-or-cedar-county }
  sourceReference: { column: Ref }
  permitType: { const: Building }
  permitClass: { const: Residential }
  workClass: { const: New }
  description: { column: Desc }
  site.address.line1: { const: 1 Main St }
  site.address.city: { const: Cedar }
  site.address.state: { const: OR }
  site.address.postalCode: { const: '97000' }
  applicant.name: { const: Owner }
  project.estimatedCost: { column: Cost, type: number }
`,
      'limits.yaml',
    ),
  );
  const row = (values: Record<string, string>): Cells => (c) => values[c] ?? null;
  assert.ok(mapper.map(row({ Ref: 'P-1', Desc: 'deck', Cost: '100' })).ok);
  const long = mapper.map(row({ Ref: 'R'.repeat(3000), Desc: 'deck', Cost: '100' }));
  assert.equal(long.ok, false);
  if (!long.ok) assert.match(long.message, /sourceReference \(column 'Ref'\): must NOT have more than 200 characters/);
  const rich = mapper.map(row({ Ref: 'P-2', Desc: 'deck', Cost: '1e13' }));
  assert.equal(rich.ok, false);
  if (!rich.ok) assert.match(rich.message, /project\.estimatedCost \(column 'Cost'\)/);
});
