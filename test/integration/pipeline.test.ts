/**
 * The whole pipeline on the real stack: envelopes on the raw topic, then the windower, the
 * enricher (against the Cedar County fixture servers), the validator, the decider and the read
 * model, all running. Every submission reaches `accepted` or `rejected` with the expected
 * reasons; the read model equals the topics (per state and per batch); `permitflow trace`
 * prints a submission's whole timeline.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { createRawProducer } from '../../connectors/raw-topic.ts';
import { REPO_ROOT } from '../../lib/config.ts';
import { createKafka } from '../../lib/kafka.ts';
import { createLogger } from '../../lib/logger.ts';
import { startProcessors } from '../../cli/processors.ts';
import { createRegistry, createSerde } from '../../schemas/serde.ts';
import type { BatchManifest, SubmissionAccepted, SubmissionEnvelope, SubmissionRejected } from '../../schemas/types.ts';
import type { TopicId } from '../../topology/topics.ts';
import { startLookupsHarness } from '../fixtures/lookups/harness.ts';
import { readAll, waitFor } from '../support/pipeline.ts';
import { testTopology } from '../support/stack.ts';
import { sampleSubmissions } from './pipeline-expectations.ts';
import { counts, readModelPool, uniqueSchema } from './read-model-helpers.ts';

const logger = createLogger({ level: 'warn' });
const run = promisify(execFile);

test('submissions flow from the raw topic to decisions, the read model equals the topics, and trace prints the timeline', async (t) => {
  const harness = await startLookupsHarness(t, { READ_MODEL_SCHEMA: uniqueSchema(), WINDOW_MAX_COUNT: '8', WINDOW_MAX_AGE_MS: '1500', PERMITFLOW_SESSION_TIMEOUT_MS: '6000' });
  const { config } = harness;
  const topology = await testTopology(t, config);
  const pool = await readModelPool(t, config);
  const submissions = sampleSubmissions(6);

  const kafka = createKafka(config, logger);
  const raw = await createRawProducer(kafka, createSerde(createRegistry(config)), topology.topics.raw);
  const envelopes: SubmissionEnvelope[] = submissions.map((s) => ({
    submissionHash: s.hash,
    source: 'http',
    sourceClient: 'portal',
    sourceReference: s.application.sourceReference ?? null,
    receivedAt: Date.now(),
    payload: { contentType: 'application/json', size: s.bytes.length, sha256: s.payloadHash, inline: s.bytes, objectKey: null },
    attachments: s.attachments,
    traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
  }));
  await raw.send(envelopes);
  await raw.close();

  const processors = await startProcessors(config, ['windower', 'enricher', 'validator', 'decider', 'read-model'], logger);
  t.after(() => processors.stop());
  await processors.started;
  await waitFor(
    'every submission decided and every batch complete in the read model',
    async () => {
      const c = await counts(pool);
      return (c.submissions.accepted ?? 0) + (c.submissions.rejected ?? 0) === submissions.length && c.batches > 0 && c.completeBatches === c.batches;
    },
    180_000,
    500,
  );

  // Decisions, from the topics.
  const accepted = new Map((await readAll<SubmissionAccepted>(config, topology, 'accepted')).map((r) => [r.key!, r.value]));
  const rejected = new Map((await readAll<SubmissionRejected>(config, topology, 'rejected')).map((r) => [r.key!, r.value]));
  for (const s of submissions) {
    if (s.expectation.outcome === 'accepted') {
      assert.equal(accepted.get(s.hash)?.reviewTrack, s.expectation.track, `sample ${s.sample}`);
      assert.deepEqual(accepted.get(s.hash)?.warnings, s.expectation.warnings, `sample ${s.sample}`);
    } else {
      assert.deepEqual(rejected.get(s.hash)?.reasons.map((r) => r.code), s.expectation.reasons, `sample ${s.sample}`);
    }
  }

  // The read model equals the topics: per state, and per batch.
  const c = await counts(pool);
  for (const id of ['received', 'chunked', 'enriched', 'validated', 'accepted', 'rejected'] as TopicId[]) {
    assert.equal(c.events[id], (await readAll(config, topology, id)).length, id);
  }
  assert.equal(c.events.received, submissions.length);
  const manifests = (await readAll<BatchManifest>(config, topology, 'batches')).map((r) => r.value);
  assert.equal(c.batches, manifests.length);
  const { rows } = await pool.query<{ batch_id: string; member_count: number; accepted_count: number; rejected_count: number; permits: string }>(
    'SELECT b.batch_id, b.member_count, b.accepted_count, b.rejected_count, (SELECT count(*) FROM permits p WHERE p.batch_id = b.batch_id) AS permits FROM batches b',
  );
  for (const m of manifests) {
    const row = rows.find((r) => r.batch_id === m.batchId)!;
    const acceptedHere = m.members.filter((h) => accepted.has(h)).length;
    assert.deepEqual([row.member_count, row.accepted_count, row.rejected_count, Number(row.permits)], [m.count, acceptedHere, m.members.filter((h) => rejected.has(h)).length, acceptedHere], m.batchId);
  }
  assert.equal(c.permits, accepted.size);

  // `permitflow trace <source reference>` prints the whole timeline.
  const mainStreet = submissions.find((s) => s.sample === 2)!;
  const riverRoad = submissions.find((s) => s.sample === 3)!;
  const env = { ...process.env, PERMITFLOW_TOPIC_NAMESPACE: config.topology.namespace, READ_MODEL_SCHEMA: config.readModel.schema, LOG_LEVEL: 'warn' };
  const trace = async (id: string) => (await run(process.execPath, [join(REPO_ROOT, 'bin/permitflow.js'), 'trace', id], { env })).stdout;
  const { rows: events } = await pool.query<{ state: string; worker_id: string; batch_id: string | null; idempotency_key: string; trace_id: string }>(
    'SELECT state, worker_id, batch_id, idempotency_key, trace_id FROM submission_events WHERE submission_hash = $1',
    [riverRoad.hash],
  );
  assert.equal(events.length, 5);
  const out = await trace(riverRoad.application.sourceReference!);
  assert.match(out, new RegExp(`submission ${riverRoad.hash}`));
  assert.match(out, /status {5}rejected/);
  const lines = out.split('\n');
  for (const state of ['received', 'chunked', 'enriched', 'validated', 'rejected']) {
    const at = lines.findIndex((l) => l.trim().startsWith(`${state} `));
    assert.ok(at > 0, `a ${state} line in\n${out}`);
    const e = events.find((x) => x.state === state)!;
    assert.match(lines[at]!, new RegExp(`\\d{4}-\\d{2}-\\d{2}T[\\d:.]+Z  worker ${e.worker_id}`));
    assert.ok(lines[at + 1]!.includes(`batch ${e.batch_id ?? '-'}`) && lines[at + 1]!.includes(`idempotency key ${e.idempotency_key}`) && lines[at + 1]!.includes(`trace ${e.trace_id}`), lines[at + 1]);
  }
  assert.match(out, /trace 4bf92f3577b34da6a3ce929d0e0e4736/, 'the trace id from the intake carries through');
  // Six copies share each site, so whichever copy is enriched first fills the cache for the others.
  assert.match(out, /lookups: parcel found( \(cached\))?, zoning found( \(cached\))?, overlays found( \(cached\))?, fees found, history found( \(cached\))?/);
  assert.match(out, /finding ERROR ATTACHMENT_REQUIRED at \/attachments: Attach an asbestos survey/);
  assert.match(out, /reason FEE_UNDERPAID at \/payment\/amountPaid: No payment came with the application: pay the permit fee of \$150\.00/);

  const accepted2 = await trace(mainStreet.hash.slice(0, 12));
  assert.match(accepted2, /permit {5}Building, review track major, fee \$1,664\.50/);
  assert.match(accepted2, /finding WARNING HISTORIC_DISTRICT_REVIEW/);
  await assert.rejects(trace('NO-SUCH-REFERENCE'), (err: { code?: number; stderr?: string }) => err.code === 1 && /no submission NO-SUCH-REFERENCE/.test(err.stderr ?? ''));
});
