/**
 * Seen failure 1 of issue 14: the same application JSON sent first without attachments, then
 * with them, got the same submission id, and the windower dropped the second as a duplicate (the
 * record kept no attachments). The identity now covers the attachments, through the real intake
 * and the real windower.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { canonicalPayload, sha256Hex, submissionHashOf } from '../../domain/hashing.ts';
import type { SubmissionReceived } from '../../schemas/types.ts';
import { multipartBody } from '../support/intake.ts';
import { intakeOnStack } from '../support/intake-stack.ts';
import { readAll, startStages, waitFor } from '../support/pipeline.ts';
import { sampleApplications } from '../support/samples.ts';

test('a resubmission that adds attachments is a new submission: two ids, and the windower receives both, the second with its attachments', async (t) => {
  const s = await intakeOnStack(t, { WINDOW_MAX_AGE_MS: '1000' });
  const application = { ...sampleApplications()[0]!, sourceReference: `IT-${randomBytes(6).toString('hex')}` };
  const auth = { authorization: `Bearer ${s.keys.portal}` };

  const bare = await fetch(`${s.intake.url}/v1/submissions`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify(application) });
  assert.equal(bare.status, 202, await bare.clone().text());
  const sitePlan = Buffer.concat([Buffer.from('%PDF-1.7\n'), randomBytes(4000)]);
  const drawings = Buffer.concat([Buffer.from('%PDF-1.7\n'), randomBytes(6000)]);
  const form = await multipartBody(application, [
    { field: 'site-plan', name: 'site-plan.pdf', type: 'application/pdf', bytes: sitePlan },
    { field: 'drawings', name: 'drawings.pdf', type: 'application/pdf', bytes: drawings },
  ]);
  const withAttachments = await fetch(`${s.intake.url}/v1/submissions`, { method: 'POST', headers: { ...auth, 'content-type': form.contentType }, body: form.payload });
  assert.equal(withAttachments.status, 202, await withAttachments.clone().text());

  const first = ((await bare.json()) as { submissionId: string }).submissionId;
  const second = ((await withAttachments.json()) as { submissionId: string }).submissionId;
  const payloadHash = canonicalPayload(application).hash;
  assert.equal(first, payloadHash, 'without attachments the id stays the canonical application hash');
  assert.notEqual(second, first);
  assert.equal(second, submissionHashOf(payloadHash, [{ kind: 'site-plan', sha256: sha256Hex(sitePlan) }, { kind: 'drawings', sha256: sha256Hex(drawings) }]));

  // The raw envelopes are keyed by their own ids and share the payload (two partitions: no order between them).
  const raw = await s.rawRecords();
  assert.deepEqual(raw.map((r) => r.key).sort(), [first, second].sort());
  assert.deepEqual(raw.map((r) => r.value.payload.sha256), [payloadHash, payloadHash]);
  assert.equal(raw.find((r) => r.key === second)?.value.attachments.length, 2);

  // Through the windower: neither is dropped as a duplicate of the other.
  await startStages(t, s.config, ['windower']);
  let received: SubmissionReceived[] = [];
  await waitFor('both submissions received', async () => {
    received = (await readAll<SubmissionReceived>(s.config, s.topology, 'received')).map((r) => r.value);
    return received.length >= 2;
  }, 60_000);
  const byId = new Map(received.map((r) => [r.header.submissionHash, r]));
  assert.equal(received.length, 2);
  assert.deepEqual(byId.get(first)?.attachments, []);
  assert.deepEqual(byId.get(second)?.attachments.map((a) => [a.kind, a.sha256]), [['site-plan', sha256Hex(sitePlan)], ['drawings', sha256Hex(drawings)]]);
});
