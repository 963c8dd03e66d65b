/**
 * Applications read from a PDF: each required field the extraction stage read with too little
 * confidence (listed in the application's `extraction.needsReview`) is a WARNING finding
 * EXTRACTION_NEEDS_REVIEW naming the field and page, which the rule sets route to a review track:
 * a person checks the field against the document, the applicant is not turned away for a scan.
 */
import { EXTRACTION_NEEDS_REVIEW, type FieldExtraction } from '../../../domain/extraction.ts';
import { valueAt } from '../application.ts';
import { finding, type Check } from './context.ts';

const isReviewItem = (v: unknown): v is FieldExtraction =>
  v !== null && typeof v === 'object' && typeof (v as FieldExtraction).field === 'string' && typeof (v as FieldExtraction).page === 'number' && typeof (v as FieldExtraction).confidence === 'number';

export const extractionReview: Check = (ctx) => {
  const items = valueAt(ctx.application, '/extraction/needsReview');
  if (!Array.isArray(items)) return [];
  return items.filter(isReviewItem).map((item) => {
    const pointer = `/${item.field.replaceAll('~', '~0').replaceAll('/', '~1').replaceAll('.', '/')}`;
    const how = item.source === 'ocr' ? 'read from the scan' : 'read from the form';
    return finding(ctx, EXTRACTION_NEEDS_REVIEW, 'WARNING', pointer, `${item.field} on page ${item.page} was ${how} with confidence ${item.confidence.toFixed(2)}: a clerk checks it against the document.`);
  });
};
