/**
 * PDF applications end to end on the real stack: the real NJ UCC F100 form filled in, its scan,
 * and an encrypted PDF, posted to the intake as the multipart `application` part, go through the
 * extractor (form fields; OCR), the windower, the enricher (Cedar County fixture servers), the
 * validator and the decider. The filled form and the scan reach a decision under the submission
 * id the intake answered, with the fields the applicant wrote; the encrypted PDF is dead-lettered
 * by the extractor with its cause; a JSON submission posted at the same time is decided too.
 * OCR is slow: this is the one scan of `make test`.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadPayload } from '../../connectors/claim-check.ts';
import { createObjectStore } from '../../connectors/object-store.ts';
import type { ExtractedApplication } from '../../domain/extraction.ts';
import { REPO_ROOT } from '../../lib/config.ts';
import type { DeadLetter, SubmissionAccepted, SubmissionEnvelope, SubmissionReceived, SubmissionRejected } from '../../schemas/types.ts';
import { F100_EXPECTED, filledF100, scanned } from '../support/pdf-forms.ts';
import { postPdf, pdfPipeline } from '../support/pdf-pipeline.ts';
import { readAll, waitFor } from '../support/pipeline.ts';
import { sampleApplications } from '../support/samples.ts';

/** The application fields the F100 mapping marks required, as dotted paths. */
const REQUIRED = ['workClass', 'description', 'site.address.line1', 'site.address.city', 'site.address.state', 'site.address.postalCode', 'site.parcelNumber', 'applicant.name', 'project.estimatedCost'];
const at = (doc: unknown, path: string): unknown => path.split('.').reduce<unknown>((node, key) => (node as Record<string, unknown> | undefined)?.[key], doc);

test('a filled F100 and its scan reach decisions with the fields the applicant wrote; an encrypted PDF is dead-lettered with its cause', async (t) => {
  const { config, topology, intakeUrl, portalKey } = await pdfPipeline(t, { WINDOW_MAX_COUNT: '4', WINDOW_MAX_AGE_MS: '1500' });

  const filled = await filledF100();
  const scan = await scanned(filled);
  const encrypted = await readFile(join(REPO_ROOT, 'test/fixtures/pdf/encrypted.pdf'));
  const answers = await Promise.all([postPdf(intakeUrl, portalKey, filled), postPdf(intakeUrl, portalKey, scan), postPdf(intakeUrl, portalKey, encrypted)]);
  assert.deepEqual(answers.map((a) => a.status), [202, 202, 202], JSON.stringify(answers.map((a) => a.body)));
  const [formId, scanId, encryptedId] = answers.map((a) => a.body.submissionId as string);
  // A JSON submission at the same time goes straight to raw: it never waits on the extractor.
  const json = await fetch(`${intakeUrl}/v1/submissions`, { method: 'POST', headers: { authorization: `Bearer ${portalKey}`, 'content-type': 'application/json' }, body: JSON.stringify(sampleApplications()[1]) });
  assert.equal(json.status, 202);
  const jsonId = ((await json.json()) as { submissionId: string }).submissionId;

  const decided = async () => {
    const accepted = await readAll<SubmissionAccepted>(config, topology, 'accepted');
    const rejected = await readAll<SubmissionRejected>(config, topology, 'rejected');
    return new Map([...accepted, ...rejected].map((r) => [r.key!, r.value]));
  };
  await waitFor('the form, the scan and the JSON submission decided, the encrypted PDF dead-lettered', async () => {
    const decisions = await decided();
    const letters = await readAll<DeadLetter>(config, topology, 'dlq');
    return [formId, scanId, jsonId].every((id) => decisions.has(id!)) && letters.some((l) => l.key === encryptedId);
  }, 300_000, 1_000);

  // Nothing PDF reached raw: each PDF envelope came back from the extractor as an application of the same id.
  const raw = new Map((await readAll<SubmissionEnvelope>(config, topology, 'raw')).map((r) => [r.key!, r.value]));
  assert.equal(raw.has(encryptedId!), false);
  // How each was read travels on `received` (the windower copies it from the envelope), for `permitflow trace`.
  const received = new Map((await readAll<SubmissionReceived>(config, topology, 'received')).map((r) => [r.key!, r.value]));
  assert.deepEqual([formId!, scanId!, jsonId].map((id) => received.get(id)?.extraction?.method ?? null), ['form', 'ocr', null]);
  const store = createObjectStore(config);
  t.after(() => store.close());
  const applicationOf = async (id: string) => JSON.parse((await loadPayload(store, raw.get(id)!.payload)).toString('utf8')) as ExtractedApplication;

  const form = await applicationOf(formId!);
  assert.equal(raw.get(formId!)!.applicationDocument?.contentType, 'application/pdf');
  assert.equal(form.extraction.method, 'form');
  assert.deepEqual({ ...form, extraction: undefined, sourceReference: undefined }, { ...F100_EXPECTED, extraction: undefined, sourceReference: undefined });

  const scanApplication = await applicationOf(scanId!);
  assert.equal(scanApplication.extraction.method, 'ocr');
  assert.deepEqual(scanApplication.extraction.ocrPages, [1]);
  const correct = REQUIRED.filter((path) => at(scanApplication, path) === at(F100_EXPECTED, path));
  t.diagnostic(`OCR of the scan: ${correct.length}/${REQUIRED.length} required fields exact (${REQUIRED.filter((p) => !correct.includes(p)).join(', ') || 'none'} differ); confidences ${scanApplication.extraction.fields.map((f) => `${f.field} ${f.confidence}`).join(', ')}`);
  assert.ok(correct.length >= REQUIRED.length - 1, `OCR read ${correct.length} of ${REQUIRED.length} required fields exactly`);

  // Both earn the decision the applicant's data earns: the F100 has no payment and no added-area field, and the
  // county's rules want both for an addition. Nothing about how the fields were read is a reason.
  const decisions = await decided();
  for (const id of [formId!, scanId!]) {
    const decision = decisions.get(id)! as SubmissionRejected;
    assert.equal(decision.header.state, 'rejected', `${id}: ${JSON.stringify(decision)}`);
    assert.deepEqual(decision.reasons.map((r) => `${r.code} ${r.field}`), ['REQUIRED_FIELD_MISSING /project/addedSqFt', 'FEE_UNDERPAID /payment/amountPaid']);
  }

  const letter = (await readAll<DeadLetter>(config, topology, 'dlq')).find((l) => l.key === encryptedId)!.value;
  assert.equal(letter.stage, 'extractor');
  assert.equal(letter.errorClass, 'PF_PDF_ENCRYPTED');
  assert.match(letter.errorMessage, /encrypted \(password-protected\)/);
});
