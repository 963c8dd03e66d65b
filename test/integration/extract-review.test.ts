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
import { startProcessors } from '../../cli/processors.ts';
import { createApiKey } from '../../connectors/intake/api-keys.ts';
import { startIntake } from '../../connectors/intake/server.ts';
import { REPO_ROOT } from '../../lib/config.ts';
import { createLogger } from '../../lib/logger.ts';
import type { SubmissionAccepted, SubmissionReceived, SubmissionRejected, SubmissionValidated } from '../../schemas/types.ts';
import { startLookupsHarness } from '../fixtures/lookups/harness.ts';
import { filledF100, scanned } from '../support/pdf-forms.ts';
import { readAll, waitFor } from '../support/pipeline.ts';
import { testTopology } from '../support/stack.ts';

const logger = createLogger({ level: 'warn' });

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
  const keysFile = join(mkdtempSync(join(tmpdir(), 'permitflow-extract-review-')), 'api-keys.json');
  const harness = await startLookupsHarness(t, {
    INTAKE_API_KEYS_FILE: keysFile,
    WINDOW_MAX_COUNT: '1',
    WINDOW_MAX_AGE_MS: '1000',
    EXTRACT_FORMS_DIR: formsDirWithPayment(),
    EXTRACT_REVIEW_CONFIDENCE: '0.99',
    // A scan takes seconds alone, minutes on a machine shared by a whole test run: the deadline is not what is tested here.
    EXTRACT_TIMEOUT_MS: '240000',
  });
  const { config } = harness;
  const topology = await testTopology(t, config);
  const portal = createApiKey(keysFile, { client: 'portal', scopes: ['submit'] });
  const intake = await startIntake(config, { logger, port: 0 });
  t.after(() => intake.close());
  const processors = await startProcessors(config, ['extractor', 'windower', 'enricher', 'validator', 'decider'], logger);
  t.after(() => processors.stop());
  await processors.started;

  const form = new FormData();
  form.append('application', new Blob([await scanned(await filledF100())], { type: 'application/pdf' }), 'application.pdf');
  form.append('site-plan', new Blob([Buffer.from('%PDF-1.4 site plan\n%%EOF\n')], { type: 'application/pdf' }), 'site-plan.pdf');
  form.append('drawings', new Blob([Buffer.from('%PDF-1.4 drawings\n%%EOF\n')], { type: 'application/pdf' }), 'drawings.pdf');
  const res = await fetch(`${intake.url}/v1/submissions`, { method: 'POST', headers: { authorization: `Bearer ${portal.key}` }, body: form });
  const body = (await res.json()) as { submissionId: string };
  assert.equal(res.status, 202, JSON.stringify(body));
  const id = body.submissionId;

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
