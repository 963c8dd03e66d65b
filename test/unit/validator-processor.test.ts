/**
 * The validator and decider as processors, with in-memory payloads and a fake record context:
 * one output per input, headers carried (batch, idempotency key), findings and decisions in
 * the records, and the failures that must dead-letter (permanent errors).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { canonicalPayload, sha256Hex } from '../../domain/hashing.ts';
import { loadPayload } from '../../connectors/claim-check.ts';
import { PermitflowError } from '../../lib/errors.ts';
import { createLogger } from '../../lib/logger.ts';
import { createDecider } from '../../processors/decider/index.ts';
import type { RecordContext, TopicOutput } from '../../processors/runtime/types.ts';
import { createValidator } from '../../processors/validator/index.ts';
import type { PayloadSource } from '../../processors/validator/application.ts';
import type { PayloadRef, SubmissionAccepted, SubmissionEnriched, SubmissionRejected, SubmissionValidated } from '../../schemas/types.ts';
import { buildTopology } from '../../topology/topics.ts';
import { alderCreek, attachment, lookups, ruleSets } from './validator-fixtures.ts';

const topology = buildTopology({ namespace: 'permits', partitions: 6, replicationFactor: 1, minCompactionLagMs: 0 });
const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
const ctx = (processor: 'validator' | 'decider'): RecordContext => ({
  processor,
  workerId: `${processor}-1`,
  logger: createLogger({ level: 'silent' }),
  traceparent: TRACEPARENT,
  signal: new AbortController().signal,
  pauseUntil: () => undefined,
});
const inline: PayloadSource = { load: (ref) => loadPayload(undefined, ref) };
const noFees = { quote: () => Promise.reject(new Error('not expected')) };

function payloadOf(value: unknown): { hash: string; ref: PayloadRef } {
  const p = canonicalPayload(value);
  return { hash: p.hash, ref: { contentType: 'application/json', size: p.bytes.length, sha256: p.hash, inline: p.bytes, objectKey: null } };
}

function enriched(application: unknown, attachments = [attachment('site-plan'), attachment('drawings')]): SubmissionEnriched {
  const { hash, ref } = payloadOf(application);
  return {
    header: { submissionHash: hash, state: 'enriched', batchId: 'batch-7', idempotencyKey: 'ef'.repeat(32), at: Date.parse('2026-11-20T00:00:00Z'), workerId: 'enricher-1', attempt: 2, traceparent: null },
    payload: ref,
    attachments,
    lookups: lookups(),
  };
}

const validator = createValidator({ topology, workerId: 'validator-1', ruleSets, fees: noFees, payloads: inline, clock: () => 42 });
const decider = createDecider({ topology, workerId: 'decider-1', ruleSets, payloads: inline, clock: () => 43 });

async function validateRecord(value: SubmissionEnriched, key = value.header.submissionHash): Promise<SubmissionValidated> {
  const out = (await validator.process({ topic: topology.topics.enriched, partition: 2, offset: '9', timestamp: 1, key, value, headers: {} }, ctx('validator'))) as TopicOutput[];
  assert.equal(out.length, 1);
  assert.equal(out[0]!.topic.id, 'validated');
  assert.equal(out[0]!.key, value.header.submissionHash);
  return out[0]!.value as SubmissionValidated;
}

async function decideRecord(value: SubmissionValidated): Promise<TopicOutput> {
  const out = (await decider.process({ topic: topology.topics.validated, partition: 2, offset: '9', timestamp: 1, key: value.header.submissionHash, value, headers: {} }, ctx('decider'))) as TopicOutput[];
  assert.equal(out.length, 1);
  return out[0]!;
}

test('validated carries the batch and idempotency key on, with its own state, time, worker and trace', async () => {
  const input = enriched(alderCreek());
  const v = await validateRecord(input);
  assert.deepEqual(v.header, { ...input.header, state: 'validated', at: 42, workerId: 'validator-1', attempt: 1, traceparent: TRACEPARENT });
  assert.equal(v.ruleSetVersion, 'us-or-cedar-county@2026.11');
  assert.deepEqual(v.findings, []);
  assert.deepEqual([v.computedFeeCents, v.paidFeeCents], [118425, 118425]);
  assert.equal(v.payload, input.payload);
});

test('a complete application is accepted with its fee, track and no warnings', async () => {
  const out = await decideRecord(await validateRecord(enriched(alderCreek())));
  assert.equal(out.topic.id, 'accepted');
  const a = out.value as SubmissionAccepted;
  assert.deepEqual(
    { state: a.header.state, batchId: a.header.batchId, workerId: a.header.workerId, at: a.header.at },
    { state: 'accepted', batchId: 'batch-7', workerId: 'decider-1', at: 43 },
  );
  assert.deepEqual(
    { jurisdiction: a.jurisdiction, permitType: a.permitType, parcelNumber: a.parcelNumber, reviewTrack: a.reviewTrack, computedFeeCents: a.computedFeeCents, warnings: a.warnings },
    { jurisdiction: 'us-or-cedar-county', permitType: 'Building', parcelNumber: '17-04-22-00-01400', reviewTrack: 'standard', computedFeeCents: 118425, warnings: [] },
  );
});

test('blocking findings reject with their messages as reasons', async () => {
  const application = { ...alderCreek(), payment: null };
  const out = await decideRecord(await validateRecord(enriched(application, [])));
  assert.equal(out.topic.id, 'rejected');
  const r = out.value as SubmissionRejected;
  assert.equal(r.header.state, 'rejected');
  assert.deepEqual(r.reasons.map((x) => x.code).sort(), ['ATTACHMENT_REQUIRED', 'ATTACHMENT_REQUIRED', 'FEE_UNDERPAID']);
  assert.match(r.reasons.find((x) => x.code === 'FEE_UNDERPAID')!.message, /pay the permit fee of \$1,184\.25/);
});

test('a payload that is not a JSON object, or a key that is not the submission, dead-letters', async () => {
  const notJson = enriched(alderCreek());
  const bytes = Buffer.from('not json');
  notJson.payload = { ...notJson.payload, inline: bytes, size: bytes.length, sha256: sha256Hex(bytes) };
  await assert.rejects(validateRecord(notJson), (e) => e instanceof PermitflowError && e.code === 'PF_PAYLOAD_NOT_JSON' && !e.retriable);
  const corrupt = enriched(alderCreek());
  corrupt.payload = { ...corrupt.payload, sha256: sha256Hex('something else') };
  await assert.rejects(validateRecord(corrupt), (e) => e instanceof PermitflowError && e.code === 'PF_PAYLOAD_CORRUPT');
  await assert.rejects(validateRecord(enriched([1, 2, 3])), (e) => e instanceof PermitflowError && e.code === 'PF_PAYLOAD_NOT_APPLICATION');
  await assert.rejects(validateRecord(enriched(alderCreek()), 'other-key'), (e) => e instanceof PermitflowError && e.code === 'PF_INVALID_RECORD');
});

test('the decider dead-letters an acceptance whose rule set is gone, but still rejects without one', async () => {
  const v = await validateRecord(enriched(alderCreek()));
  await assert.rejects(decideRecord({ ...v, ruleSetVersion: 'us-or-cedar-county@1999.01' }), (e) => e instanceof PermitflowError && e.code === 'PF_RULE_SET_UNKNOWN' && !e.retriable);
  const unsupported = await validateRecord(enriched({ ...alderCreek(), jurisdiction: 'us-ca-nowhere' }));
  const out = await decideRecord(unsupported);
  assert.equal(out.topic.id, 'rejected');
  assert.deepEqual((out.value as SubmissionRejected).reasons.map((r) => r.code), ['JURISDICTION_UNSUPPORTED']);
});

test('the rule set and fee are those in force when the intake received the submission, not on a backdated appliedAt', async () => {
  // Received on 20 November 2026 (2026.11 in force), claiming August 2025 (2025.07, cheaper).
  const backdated = { ...alderCreek(), appliedAt: '2025-08-01T09:00:00Z' };
  const input = enriched(backdated);
  input.header = { ...input.header, receivedAt: Date.parse('2026-11-20T08:00:00Z'), at: Date.parse('2026-11-20T08:05:00Z') };
  input.lookups = input.lookups.filter((l) => l.lookup !== 'fees');
  const fees: string[] = [];
  const quoting = createValidator({
    topology,
    workerId: 'validator-1',
    ruleSets,
    fees: { quote: (_type, _valuation, date) => (fees.push(date), Promise.resolve({ quote: { scheduleVersion: date >= '2026-11-01' ? '2026.11' : '2025.07', effectiveFrom: date, permitType: 'Building', valuation: 86500, feeCents: 118425, currency: 'USD', tier: { from: 50000, to: 100000 } } })) },
    payloads: inline,
  });
  const out = (await quoting.process({ topic: topology.topics.enriched, partition: 2, offset: '9', timestamp: 1, key: input.header.submissionHash, value: input, headers: {} }, ctx('validator'))) as TopicOutput[];
  const v = out[0]!.value as SubmissionValidated;
  assert.equal(v.ruleSetVersion, 'us-or-cedar-county@2026.11');
  assert.deepEqual(fees, ['2026-11-20'], 'the fee schedule is asked for the day of receipt');
});
