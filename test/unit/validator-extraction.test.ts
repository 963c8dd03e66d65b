/**
 * PDF applications in the validator and decider: a required field the extraction stage read
 * with too little confidence is a WARNING finding EXTRACTION_NEEDS_REVIEW (field and page), and
 * the decision is an acceptance on the major review track, not a rejection.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decide } from '../../processors/decider/policy.ts';
import { applicationFacts } from '../../processors/validator/application.ts';
import type { FeeQuoter } from '../../processors/validator/fee-quoter.ts';
import { validate } from '../../processors/validator/validate.ts';
import { alderCreek, attachment, lookups, ruleSets } from './validator-fixtures.ts';

const AT = Date.parse('2026-11-20T12:00:00Z');
const noQuoter: FeeQuoter = { quote: () => Promise.reject(new Error('the record carries a quote')) };

function scanned(needsReview: unknown[]): Record<string, unknown> {
  const fields = [{ field: 'applicant.name', source: 'ocr', page: 1, confidence: 0.97 }];
  return { ...alderCreek(), extraction: { form: 'nj-ucc-f100', method: 'ocr', pages: 1, ocrPages: [1], fields, needsReview, document: { sha256: 'ab'.repeat(32), size: 1 } } };
}

const run = (application: Record<string, unknown>) => validate({ application, attachments: [attachment('site-plan'), attachment('drawings')], lookups: lookups(), receivedAt: AT }, { ruleSets, fees: noQuoter });

test('a required field read below the threshold is a review finding naming field and page, and the decision a review track', async () => {
  const application = scanned([{ field: 'site.address.line1', source: 'ocr', page: 1, confidence: 0.61 }]);
  const validation = await run(application);
  assert.deepEqual(
    validation.findings.map((f) => ({ code: f.code, severity: f.severity, field: f.field })),
    [{ code: 'EXTRACTION_NEEDS_REVIEW', severity: 'WARNING', field: '/site/address/line1' }],
  );
  assert.match(validation.findings[0]!.message, /page 1 was read from the scan with confidence 0\.61/);
  const decision = decide(validation.findings, applicationFacts(application), ruleSets.byId(validation.ruleSetVersion));
  assert.deepEqual(decision, { outcome: 'accepted', reviewTrack: 'major', warnings: ['EXTRACTION_NEEDS_REVIEW'] });
});

test('a PDF read with confidence, and a JSON submission, get no review finding and the usual track', async () => {
  for (const application of [scanned([]), alderCreek() as unknown as Record<string, unknown>]) {
    const validation = await run(application);
    assert.deepEqual(validation.findings, []);
    assert.deepEqual(decide(validation.findings, applicationFacts(application), ruleSets.byId(validation.ruleSetVersion)), { outcome: 'accepted', reviewTrack: 'standard', warnings: [] });
  }
});

test('a malformed review list (inter-agency producers skip the extraction stage) is ignored, not a crash', async () => {
  const validation = await run(scanned([null, 'x', { field: 3 }]));
  assert.deepEqual(validation.findings, []);
});
