/**
 * What the read model keeps of each record (pure mapping): the timeline details of every state
 * without personal data, the status ranks that make arrival order irrelevant, dead letters,
 * and the migration files.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readMigrations } from '../../connectors/read-model/migrate.ts';
import { deadLetterRecord, stateRecord, STATUS_RANK, type StateRecord } from '../../connectors/read-model/records.ts';
import type { DeadLetter } from '../../schemas/types.ts';
import { sampleRecords } from '../support/samples.ts';

const samples = sampleRecords();

test('every state becomes one event with its header and the stage payload, and a status patch', () => {
  for (const name of ['SubmissionReceived', 'SubmissionChunked', 'SubmissionEnriched', 'SubmissionValidated', 'SubmissionAccepted', 'SubmissionRejected'] as const) {
    const record = samples[name] as StateRecord;
    const { event, patch } = stateRecord(record);
    assert.equal(event.submissionHash, record.header.submissionHash);
    assert.equal(event.state, record.header.state);
    assert.equal(event.batchId, record.header.batchId);
    assert.equal(event.idempotencyKey, record.header.idempotencyKey);
    assert.equal(patch.rank, STATUS_RANK[record.header.state]);
    assert.equal(patch.status, record.header.state);
  }
  const validated = stateRecord(samples.SubmissionValidated as StateRecord).event.detail;
  assert.equal((validated.findings as unknown[]).length, 1);
  assert.equal(validated.ruleSetVersion, 'us-or-cedar-county@2026.11');
  assert.deepEqual(stateRecord(samples.SubmissionRejected as StateRecord).event.detail, { reasons: [{ code: 'ATTACHMENT_REQUIRED', field: '/attachments', message: 'Attach a site plan' }] });
  assert.equal(stateRecord(samples.SubmissionAccepted as StateRecord).patch.reviewTrack, 'standard');
  const received = stateRecord(samples.SubmissionReceived as StateRecord).patch;
  assert.deepEqual([received.source, received.sourceClient], ['http', 'portal']);
});

test('states order by how far a submission got, whatever order the topics are read in', () => {
  const order = ['received', 'chunked', 'enriched', 'validated', 'accepted'] as const;
  for (let i = 1; i < order.length; i++) assert.ok(STATUS_RANK[order[i]!] > STATUS_RANK[order[i - 1]!]);
  assert.equal(STATUS_RANK.accepted, STATUS_RANK.rejected);
});

test('no personal data: payload bytes, lookup answers and attachment names stay out', () => {
  const received = samples.SubmissionReceived as StateRecord;
  const enriched = { ...(samples.SubmissionEnriched as StateRecord), lookups: [{ lookup: 'parcel', outcome: 'found', source: 's', fetchedAt: 1, cacheHit: false, attempt: 1, data: '{"address":"1842 NE ALDER CREEK RD"}' }] } as StateRecord;
  const text = JSON.stringify([stateRecord(received).event, stateRecord(enriched).event]);
  assert.ok(!text.includes('Marisol'), 'the applicant name (inside the inline payload) is not stored');
  assert.ok(!text.includes('ALDER CREEK'), 'lookup data is not stored');
  assert.ok(!text.includes('site-plan.pdf'), 'attachment file names are not stored');
  const payload = (samples.SubmissionReceived as { payload: { sha256: string; size: number } }).payload;
  assert.deepEqual(stateRecord(received).event.detail.payload, { sha256: payload.sha256, size: payload.size, contentType: 'application/json', inline: true, objectKey: null });
});

test('NUL characters, which PostgreSQL refuses, are removed', () => {
  const rejected = { ...(samples.SubmissionRejected as StateRecord), reasons: [{ code: 'X', field: null, message: 'bad\u0000byte' }] } as StateRecord;
  assert.deepEqual(stateRecord(rejected).event.detail, { reasons: [{ code: 'X', field: null, message: 'badbyte' }] });
});

test('a dead letter ranks just after the state its stage consumed, and names its submission only by a real hash', () => {
  const letter = samples.DeadLetter as DeadLetter;
  const hash = 'cd'.repeat(32);
  const validator = deadLetterRecord({ ...letter, submissionHash: hash, stage: 'validator' }, 'batch-1');
  assert.equal(validator.row.batchId, 'batch-1');
  assert.ok(validator.patch!.rank > STATUS_RANK.enriched && validator.patch!.rank < STATUS_RANK.validated);
  assert.equal(validator.patch!.status, 'dead_lettered');
  assert.ok(deadLetterRecord({ ...letter, submissionHash: hash, stage: 'decider' }, null).patch!.rank < STATUS_RANK.accepted);
  assert.ok(deadLetterRecord({ ...letter, submissionHash: hash, stage: 'someone-else' }, null).patch!.rank < STATUS_RANK.received);
  assert.equal(deadLetterRecord({ ...letter, submissionHash: 'garbage' }, null).patch, null);
  assert.equal(deadLetterRecord({ ...letter, submissionHash: null }, null).row.submissionHash, null);
});

test('migrations are numbered, in order, each with a checksum', () => {
  const migrations = readMigrations();
  assert.ok(migrations.length >= 1);
  assert.deepEqual(migrations.map((m) => m.version), [...new Set(migrations.map((m) => m.version))].sort((a, b) => a - b));
  for (const m of migrations) assert.match(m.checksum, /^[0-9a-f]{64}$/);
  assert.match(migrations[0]!.sql, /CONSTRAINT submission_events_once UNIQUE \(submission_hash, state\)/);
});
