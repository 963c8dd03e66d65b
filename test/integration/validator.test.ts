/**
 * Validator and decider on the real stack. The enriched records carry lookups answered by the
 * real lookup connectors against the Cedar County fixture servers, so the validator reads the
 * shapes the enricher really writes. Each sample application reaches its expected decision
 * with its expected reasons; a claim-checked payload is read from the object store; a payload
 * that is not JSON is dead-lettered by the validator with its cause.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sha256Hex } from '../../domain/hashing.ts';
import { storePayload } from '../../connectors/claim-check.ts';
import { createObjectStore } from '../../connectors/object-store.ts';
import { createKafka } from '../../lib/kafka.ts';
import { createLogger } from '../../lib/logger.ts';
import { startProcessors } from '../../cli/processors.ts';
import { createRegistry, createSerde } from '../../schemas/serde.ts';
import type { DeadLetter, SubmissionAccepted, SubmissionEnriched, SubmissionRejected, SubmissionValidated } from '../../schemas/types.ts';
import { startLookupsHarness } from '../fixtures/lookups/harness.ts';
import { readAll, waitFor } from '../support/pipeline.ts';
import { testTopology } from '../support/stack.ts';
import { sampleSubmissions } from './pipeline-expectations.ts';

const logger = createLogger({ level: 'warn' });

test('each sample reaches its decision with actionable reasons; claim-checked payloads are read; bad payloads are dead-lettered', async (t) => {
  const harness = await startLookupsHarness(t, { PERMITFLOW_SESSION_TIMEOUT_MS: '6000' });
  const { config } = harness;
  const topology = await testTopology(t, config);
  const lookups = await harness.lookups();
  const store = createObjectStore(config);
  t.after(() => store.close());

  const submissions = sampleSubmissions(2);
  const enriched: SubmissionEnriched[] = [];
  for (const [i, s] of submissions.entries()) {
    // The last one claim-checked: its payload lives in the object store only.
    const payload = await storePayload(store, { hash: s.payloadHash, bytes: s.bytes }, i === submissions.length - 1 ? 0 : 64 * 1024);
    enriched.push({
      header: { submissionHash: s.hash, state: 'enriched', batchId: `batch-${i % 2}`, idempotencyKey: 'ab'.repeat(32), at: Date.now(), workerId: 'enricher-test', attempt: 1, traceparent: null },
      payload,
      attachments: s.attachments,
      lookups: await lookups.lookupAll(s.application),
    });
  }
  assert.ok(enriched.at(-1)!.payload.objectKey !== null && enriched.at(-1)!.payload.inline === null, 'one payload is claim-checked');
  const garbage = Buffer.from('{"jurisdiction": "us-or-ceda');
  const bad: SubmissionEnriched = { ...enriched[0]!, header: { ...enriched[0]!.header, submissionHash: sha256Hex(garbage) }, payload: { contentType: 'application/json', size: garbage.length, sha256: sha256Hex(garbage), inline: garbage, objectKey: null } };

  const serde = createSerde(createRegistry(config));
  const producer = createKafka(config, logger).producer();
  await producer.connect();
  await producer.send({
    topic: topology.topics.enriched.name,
    messages: await Promise.all([...enriched, bad].map(async (e) => ({ key: e.header.submissionHash, value: await serde.encode(topology.topics.enriched, e) }))),
  });
  await producer.disconnect();

  const processors = await startProcessors(config, ['validator', 'decider'], logger);
  t.after(() => processors.stop());
  await processors.started;
  await waitFor('a decision for every submission', async () => (await readAll(config, topology, 'accepted')).length + (await readAll(config, topology, 'rejected')).length >= submissions.length, 120_000, 500);
  await waitFor('the bad payload dead-lettered', async () => (await readAll(config, topology, 'dlq')).length >= 1, 60_000, 500);

  const validated = new Map((await readAll<SubmissionValidated>(config, topology, 'validated')).map((r) => [r.key!, r.value]));
  const accepted = new Map((await readAll<SubmissionAccepted>(config, topology, 'accepted')).map((r) => [r.key!, r.value]));
  const rejected = new Map((await readAll<SubmissionRejected>(config, topology, 'rejected')).map((r) => [r.key!, r.value]));
  assert.equal(validated.size, submissions.length);
  assert.equal(accepted.size + rejected.size, submissions.length, 'exactly one decision each');
  for (const s of submissions) {
    const v = validated.get(s.hash)!;
    const why = `sample ${s.sample}: ${v.findings.map((f) => `${f.severity} ${f.code}: ${f.message}`).join(' | ')}`;
    assert.equal(v.ruleSetVersion, 'us-or-cedar-county@2026.11', why);
    assert.equal(v.header.batchId, enriched.find((e) => e.header.submissionHash === s.hash)!.header.batchId, 'the batch id travels on');
    if (s.expectation.outcome === 'accepted') {
      const a = accepted.get(s.hash);
      assert.ok(a, `accepted: ${why}`);
      assert.equal(a.reviewTrack, s.expectation.track, why);
      assert.deepEqual(a.warnings, s.expectation.warnings, why);
      assert.equal(a.computedFeeCents, v.computedFeeCents);
      assert.equal(a.parcelNumber, s.application.site.parcelNumber ?? null);
    } else {
      const r = rejected.get(s.hash);
      assert.ok(r, `rejected: ${why}`);
      assert.deepEqual(r.reasons.map((x) => x.code), s.expectation.reasons, why);
      for (const reason of r.reasons) assert.ok(reason.message.length > 30, `an actionable message: ${reason.message}`);
    }
  }
  // The fee the validator compared is the schedule's: $842.00 + 37 x $9.25 for Alder Creek.
  assert.equal(validated.get(submissions[0]!.hash)!.computedFeeCents, 118425);
  assert.equal(validated.get(submissions[0]!.hash)!.paidFeeCents, 118425);

  const letters = (await readAll<DeadLetter>(config, topology, 'dlq')).map((r) => r.value);
  assert.equal(letters.length, 1);
  assert.deepEqual([letters[0]!.stage, letters[0]!.errorClass, letters[0]!.submissionHash], ['validator', 'PF_PAYLOAD_NOT_JSON', bad.header.submissionHash]);
});
