/**
 * A scan read below the review threshold reaches a decision on the review track, on the real
 * stack: the F100 scan posted to the intake goes through the extractor (OCR), the windower, the
 * enricher, the validator and the decider. With EXTRACT_REVIEW_CONFIDENCE above what OCR gives
 * (0.99; Tesseract's word confidences on the noisy scan are 0.8-0.97), every required field read
 * from the scan needs review: the validator makes one EXTRACTION_NEEDS_REVIEW finding per field,
 * naming it and its page, and the decider accepts the application on the rule set's `major`
 * track with the finding among its warnings, instead of rejecting it.
 *
 * The F100 has no payment and no added-area field, and the county's rules want both for an
 * addition (extract.test.ts: rejected for them). A deployment that collects them elsewhere says
 * so in its own mapping: this test's copy of the F100 mapping gives both as constants.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT } from '../../lib/config.ts';
import type { SubmissionAccepted, SubmissionReceived, SubmissionRejected, SubmissionValidated } from '../../schemas/types.ts';
import { filledF100, scanned } from '../support/pdf-forms.ts';
import { postPdf, pdfPipeline } from '../support/pdf-pipeline.ts';
import { readAll, waitFor } from '../support/pipeline.ts';

/** The shipped F100 mapping plus what the form lacks and this county requires. */
function formsDirWithPayment(): string {
  const dir = mkdtempSync(join(tmpdir(), 'permitflow-forms-'));
  const shipped = readFileSync(join(REPO_ROOT, 'connectors/pdf/forms/nj-ucc-f100.yaml'), 'utf8');
  const extra = '  payment.amountPaid: { const: 5000 }\n  payment.currency: { const: USD }\n  project.addedSqFt: { const: 240 }\n';
  assert.match(shipped, /\n\ncodes:\n/);
  writeFileSync(join(dir, 'nj-ucc-f100.yaml'), shipped.replace('\n\ncodes:\n', `\n${extra}\ncodes:\n`));
  return dir;
}

test('a scan read below the review threshold is accepted on the review track, each field needing review named with its page', async (t) => {
  const { config, topology, intakeUrl, portalKey } = await pdfPipeline(t, { WINDOW_MAX_COUNT: '1', WINDOW_MAX_AGE_MS: '1000', EXTRACT_FORMS_DIR: formsDirWithPayment(), EXTRACT_REVIEW_CONFIDENCE: '0.99' });
  const { status, body } = await postPdf(intakeUrl, portalKey, await scanned(await filledF100()));
  assert.equal(status, 202, JSON.stringify(body));
  const id = body.submissionId as string;

  const decision = async () => {
    const decided = [...(await readAll<SubmissionAccepted>(config, topology, 'accepted')), ...(await readAll<SubmissionRejected>(config, topology, 'rejected'))];
    return decided.find((r) => r.key === id);
  };
  await waitFor('the scan decided', async () => (await decision()) !== undefined, 300_000, 1_000);

  const decided = (await decision())!;
  assert.equal(decided.value.header.state, 'accepted', JSON.stringify(decided.value));
  const accepted = decided.value as SubmissionAccepted;
  assert.equal(accepted.reviewTrack, 'major');
  assert.ok(accepted.warnings.includes('EXTRACTION_NEEDS_REVIEW'), `warnings: ${accepted.warnings.join(', ')}`);

  // The fields the extractor flagged (on `received`, for trace) are the findings the clerk gets, each with its page.
  const received = (await readAll<SubmissionReceived>(config, topology, 'received')).find((r) => r.key === id)!.value;
  assert.equal(received.extraction?.method, 'ocr');
  const flagged = received.extraction.needsReview;
  assert.ok(flagged.includes('applicant.name') && flagged.includes('site.address.line1'), `needs review: ${flagged.join(', ')}`);
  const validated = (await readAll<SubmissionValidated>(config, topology, 'validated')).find((r) => r.key === id)!.value;
  const findings = validated.findings.filter((f) => f.code === 'EXTRACTION_NEEDS_REVIEW');
  assert.deepEqual(findings.map((f) => f.field).sort(), flagged.map((field) => `/${field.replaceAll('.', '/')}`).sort());
  for (const f of findings) {
    assert.equal(f.severity, 'WARNING');
    assert.match(f.message, /^[\w.]+ on page 1 was read from the scan with confidence 0\.\d\d: a clerk checks it against the document\.$/);
  }
  assert.ok(findings.some((f) => f.message.startsWith('applicant.name on page 1 ')));
});
