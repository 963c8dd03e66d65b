/** `permitflow trace` of a PDF application: how it was read (method, pages, each field's source, page and confidence, what needs review). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatTimeline } from '../../cli/commands/trace.ts';
import type { Timeline } from '../../connectors/read-model/index.ts';
import type { ExtractionSummary } from '../../schemas/types.ts';

const timeline = (extraction: ExtractionSummary | null): Timeline => ({
  submissionHash: 'ab'.repeat(32),
  status: 'received',
  statusAt: 0,
  source: 'http',
  sourceClient: 'portal',
  sourceReference: null,
  receivedAt: 0,
  batch: null,
  permit: null,
  events: [{ state: 'received', at: 0, workerId: 'w', batchId: null, idempotencyKey: null, traceId: null, attempt: 1, detail: { source: 'http', sourceClient: 'portal', sourceReference: null, rawOffset: 1, payload: { size: 900, inline: true, objectKey: null }, attachments: [], extraction } }],
});

test('trace shows how a PDF application was read', () => {
  const text = formatTimeline(
    timeline({
      form: 'nj-ucc-f100',
      method: 'ocr',
      pages: 1,
      ocrPages: [1],
      fields: [
        { field: 'applicant.name', source: 'ocr', page: 1, confidence: 0.9657 },
        { field: 'site.address.line1', source: 'ocr', page: 1, confidence: 0.612 },
      ],
      needsReview: ['site.address.line1'],
    }),
  );
  assert.match(text, /extracted from a PDF by OCR \(form nj-ucc-f100, 1 page, OCR of page 1\); needs review: site\.address\.line1/);
  assert.match(text, /fields: applicant\.name ocr p1 0\.97, site\.address\.line1 ocr p1 0\.61/);
});

test('a JSON submission has no extraction lines', () => {
  assert.doesNotMatch(formatTimeline(timeline(null)), /extracted|fields:/);
});
