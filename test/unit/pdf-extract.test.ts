/**
 * The PDF extraction pool on its own (no services, but the Debian tools poppler, ImageMagick and
 * Tesseract): the real F100 form read by its fields, each bad PDF refused with its cause, a form
 * mapping validated at load. The scan's OCR runs once, end to end, in test/integration/extract.test.ts.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { REPO_ROOT } from '../../lib/config.ts';
import { createPdfExtractor } from '../../connectors/pdf/extractor.ts';
import { loadFormMappings, parseFormMapping } from '../../connectors/pdf/form-mapping.ts';
import { badPdfs, F100_EXPECTED, filledF100 } from '../support/pdf-forms.ts';

const FORMS_DIR = join(REPO_ROOT, 'connectors/pdf/forms');
const LIMITS = { concurrency: 2, timeoutMs: 60_000, memoryMb: 256, maxPages: 50, maxImagePixels: 40_000_000, dpi: 200, reviewConfidence: 0.8 };

test('a filled F100 is read by its form fields into the expected application, every field at confidence 1', async () => {
  const extractor = createPdfExtractor({ forms: loadFormMappings(FORMS_DIR), ...LIMITS });
  const { application, extraction } = await extractor.extract(await filledF100());
  assert.deepEqual(application, F100_EXPECTED);
  assert.equal(extraction.method, 'form');
  assert.equal(extraction.form, 'nj-ucc-f100');
  assert.equal(extraction.pages, 3);
  assert.deepEqual(extraction.ocrPages, []);
  assert.deepEqual(extraction.needsReview, []);
  const line1 = extraction.fields.find((f) => f.field === 'site.address.line1');
  assert.deepEqual(line1, { field: 'site.address.line1', source: 'form', page: 1, confidence: 1 });
});

test('a required field left empty on the form is a clear refusal naming the field, not a crash', async () => {
  const extractor = createPdfExtractor({ forms: loadFormMappings(FORMS_DIR), ...LIMITS });
  const { 'Owner in Fee': _owner, ...withoutOwner } = (await import('../support/pdf-forms.ts')).F100_VALUES;
  await assert.rejects(extractor.extract(await filledF100(withoutOwner)), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'PF_PDF_FIELDS_UNREADABLE');
    assert.match(err.message, /applicant\.name \(column 'Owner in Fee'\): is required but empty/);
    assert.doesNotMatch(err.message, /Okafor|Alder/, 'no applicant data in the cause');
    return true;
  });
});

test('every bad PDF is refused with its own cause, within bounded time, and the pool keeps working', async () => {
  const extractor = createPdfExtractor({ forms: loadFormMappings(FORMS_DIR), ...LIMITS });
  const bad = await badPdfs();
  const outcomes = await Promise.all(bad.map((b) => extractor.extract(b.bytes).then(() => 'accepted', (err: Error & { code?: string }) => err.code)));
  assert.deepEqual(Object.fromEntries(bad.map((b, i) => [b.name, outcomes[i]])), Object.fromEntries(bad.map((b) => [b.name, b.code])));
  // The same pool still reads a good form afterwards.
  assert.equal((await extractor.extract(await filledF100())).extraction.method, 'form');
  assert.equal(extractor.pending, 0);
});

test('a document over its deadline or its memory is cut off with that cause', async () => {
  const slow = createPdfExtractor({ forms: loadFormMappings(FORMS_DIR), ...LIMITS, timeoutMs: 50 });
  await assert.rejects(slow.extract(await filledF100()), (err: Error & { code?: string }) => err.code === 'PF_PDF_TIMEOUT' && /longer than 50 ms/.test(err.message));
  const small = createPdfExtractor({ forms: loadFormMappings(FORMS_DIR), ...LIMITS, memoryMb: 4 });
  const bad = (await badPdfs()).find((b) => b.name === '2,000 pages')!;
  await assert.rejects(small.extract(bad.bytes), (err: Error & { code?: string }) => err.code === 'PF_PDF_TOO_COMPLEX' || err.code === 'PF_PDF_TOO_MANY_PAGES');
});

test('a form mapping is validated at load: unknown application fields, columns without a region, bad regions', () => {
  const yaml = `
name: broken-form
form:
  title: [permit]
  columns:
    Site: { page: 1, region: [0.9, 0.1, 0.2, 0.05] }
fields:
  jurisdiction: { const: x }
  permitType: { const: Building }
  permitClass: { const: Residential }
  workClass: { const: New }
  description: { column: Scope, required: true }
  site.address.line1: { column: Site }
  site.address.city: { const: c }
  site.address.state: { const: OR }
  site.address.postalCode: { const: '97402' }
  applicant.name: { const: n }
  project.estimatedCost: { const: 1 }
  project.colour: { column: Site }
`;
  assert.throws(() => parseFormMapping(yaml, 'broken.yaml'), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'PF_FORM_MAPPING_INVALID');
    assert.match(err.message, /form\.columns\.Site\.region: expected left, top, width, height inside the page/);
    assert.match(err.message, /PermitApplication has no field project\.colour/);
    return true;
  });
  assert.throws(() => parseFormMapping(yaml.replace('0.9, 0.1', '0.1, 0.1').replace('  project.colour: { column: Site }\n', ''), 'broken.yaml'), /fields\.description: column "Scope" has no entry under form\.columns/);
});

test('the pool works in a process that registers tsx at run time, as bin/permitflow.js does (worker threads do not inherit that)', async () => {
  const script = `
    import { register } from 'tsx/esm/api';
    register();
    const { createPdfExtractor } = await import('./connectors/pdf/extractor.ts');
    const { loadFormMappings } = await import('./connectors/pdf/form-mapping.ts');
    const { filledF100 } = await import('./test/support/pdf-forms.ts');
    const extractor = createPdfExtractor({ forms: loadFormMappings(${JSON.stringify(FORMS_DIR)}), ...${JSON.stringify(LIMITS)} });
    const { extraction } = await extractor.extract(await filledF100());
    console.log(extraction.method);`;
  // No --import tsx here: the child is a plain node, like a stage started by bin/permitflow.js.
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], { cwd: REPO_ROOT, timeout: 120_000 });
  assert.equal(stdout.trim(), 'form');
});
