import assert from 'node:assert/strict';
import { test } from 'node:test';
import avro from 'avsc';
import { loadAllSchemas, loadSchema, SCHEMA_FILES, type SchemaName } from '../../schemas/index.ts';
import { sampleApplications, sampleRecords } from '../support/samples.ts';

test('every schema parses and is self-contained', () => {
  const all = loadAllSchemas();
  assert.equal(all.size, Object.keys(SCHEMA_FILES).length);
  for (const [name, { json }] of all) {
    // Re-parsing the expanded JSON alone proves no reference to common.avsc is left dangling.
    assert.doesNotThrow(() => avro.Type.forSchema(JSON.parse(JSON.stringify(json)) as avro.Schema), name);
  }
});

test('a sample of each record is valid Avro and round-trips', () => {
  const samples = sampleRecords();
  for (const name of Object.keys(SCHEMA_FILES) as SchemaName[]) {
    const { type } = loadSchema(name);
    const paths: string[] = [];
    assert.ok(type.isValid(samples[name], { errorHook: (p) => paths.push(p.join('.')) }), `${name} invalid at ${paths.join(', ')}`);
    assert.deepEqual(type.fromBuffer(type.toBuffer(samples[name])), type.fromBuffer(type.toBuffer(samples[name])));
  }
});

test('a record missing a required field is invalid', () => {
  const { type } = loadSchema('SubmissionEnvelope');
  const { submissionHash: _omit, ...withoutHash } = sampleRecords().SubmissionEnvelope as Record<string, unknown>;
  assert.equal(type.isValid(withoutHash), false);
});

test('every sample application fits the permit model, optional fields taking their defaults', () => {
  const { type } = loadSchema('PermitApplication');
  for (const app of sampleApplications()) {
    // JSON submissions omit optional fields; clone() fills them from the schema's defaults.
    const record = type.clone(app) as Record<string, unknown>;
    assert.ok(type.isValid(record), app.sourceReference ?? '');
    assert.equal(record.jurisdiction, app.jurisdiction);
  }
  assert.throws(() => type.clone({ ...sampleApplications()[0], project: { estimatedCost: 'a lot' } }));
});

test('state records share one header shape', () => {
  for (const name of ['SubmissionReceived', 'SubmissionChunked', 'SubmissionEnriched', 'SubmissionValidated', 'SubmissionAccepted', 'SubmissionRejected'] as const) {
    const fields = (loadSchema(name).type as avro.types.RecordType).fields;
    const header = fields.find((f) => f.name === 'header');
    assert.ok(header, name);
    assert.equal(header.type.name, 'dev.permitflow.v1.StateHeader');
  }
});
