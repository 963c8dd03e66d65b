/**
 * The PDF extraction pool: reads application PDFs into permit applications in worker threads
 * (off the event loop), each with a bounded heap, one document at a time per worker under a
 * deadline, at most `concurrency` at a time. OCR tools run as child processes of the worker under their own bounds (ocr.ts).
 *
 * The reading is mapped by the form's mapping (the importer's rules), then every application
 * field gets its source, page and confidence; a required field below `reviewConfidence` is
 * listed in `needsReview`, which the validator turns into EXTRACTION_NEEDS_REVIEW findings.
 * A PDF that cannot become an application throws PermitflowError.permanent with the cause
 * (the stage dead-letters it); nothing here is worth retrying.
 */
import { Worker } from 'node:worker_threads';
import pLimit from 'p-limit';
import type { ApplicationReader, FieldExtraction } from '../../domain/extraction.ts';
import { PermitflowError } from '../../lib/errors.ts';
import { columnsOfRule, type FormMapping } from './form-mapping.ts';
import type { FormShape, PdfReading, ReadCell } from './read.ts';
import type { WorkerInput, WorkerOutput } from './worker.ts';

export interface PdfExtractorOptions {
  forms: FormMapping[];
  /** Documents read at once (EXTRACT_CONCURRENCY). */
  concurrency: number;
  /** Deadline of one document, all pages and tools included. */
  timeoutMs: number;
  /** Heap of one worker, MB; each OCR tool gets the same as address space on top. */
  memoryMb: number;
  maxPages: number;
  maxImagePixels: number;
  /** Rasterisation resolution for OCR. */
  dpi: number;
  /** A required field read with less confidence than this needs a person to check it. */
  reviewConfidence: number;
}

export interface PdfExtractor extends ApplicationReader {
  /** Documents being read or waiting. */
  readonly pending: number;
}

/**
 * A worker thread does not inherit loader hooks registered at run time (bin/permitflow.js
 * registers tsx that way), so its entry registers tsx itself, then loads the TypeScript worker.
 */
const WORKER_URL = new URL(
  `data:text/javascript,${encodeURIComponent(`import { register } from ${JSON.stringify(import.meta.resolve('tsx/esm/api'))}; register(); await import(${JSON.stringify(new URL('./worker.ts', import.meta.url).href)});`)}`,
);

/**
 * Worker threads kept between documents (starting one costs about half a second of CPU: the
 * module graph and pdf-lib). A worker that timed out, ran out of heap or failed is terminated
 * and never reused; an idle one is unref'd, so it never keeps the process alive.
 */
function workerPool(options: PdfExtractorOptions) {
  const idle: Worker[] = [];
  let nextId = 0;
  const spawnWorker = () =>
    new Worker(WORKER_URL, { resourceLimits: { maxOldGenerationSizeMb: options.memoryMb, maxYoungGenerationSizeMb: Math.max(8, Math.floor(options.memoryMb / 8)) }, stdout: false, stderr: false });

  function run(input: WorkerInput): Promise<PdfReading> {
    const worker = idle.pop() ?? spawnWorker();
    worker.ref();
    const id = nextId++;
    return new Promise((resolve, reject) => {
      let settled = false;
      const settle = (reusable: boolean, fn: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        worker.off('message', onMessage).off('error', onError).off('exit', onExit);
        if (reusable) {
          worker.unref();
          idle.push(worker);
        } else void worker.terminate();
        fn();
      };
      const onMessage = (out: WorkerOutput & { id: number }) => {
        if (out.id !== id) return;
        settle(true, () => (out.ok ? resolve(out.reading) : reject(PermitflowError.permanent(out.code, out.message))));
      };
      const onError = (err: Error & { code?: string }) =>
        settle(false, () =>
          reject(
            err.code === 'ERR_WORKER_OUT_OF_MEMORY'
              ? PermitflowError.permanent('PF_PDF_TOO_COMPLEX', `reading the PDF needed more than ${options.memoryMb} MB; send the form alone, without large images`)
              : PermitflowError.permanent('PF_PDF_UNREADABLE', `the PDF could not be read: ${err.message}`, { cause: err }),
          ),
        );
      const onExit = (code: number) => settle(false, () => reject(PermitflowError.permanent('PF_PDF_UNREADABLE', `the PDF reader stopped (exit ${code}) before answering`)));
      const timer = setTimeout(() => settle(false, () => reject(PermitflowError.permanent('PF_PDF_TIMEOUT', `reading the PDF took longer than ${options.timeoutMs} ms; send the form alone, scanned at 300 dpi or less`))), options.timeoutMs);
      worker.on('message', onMessage).on('error', onError).on('exit', onExit);
      worker.postMessage({ id, ...input });
    });
  }
  return { run, idle };
}

const shapeOf = (form: FormMapping): FormShape => ({ name: form.name, title: form.title, columns: [...form.columns] });

/** Source, page and confidence of each mapped field: the weakest of the cells its value came from. */
function fieldExtractions(form: FormMapping, cells: Record<string, ReadCell>): FieldExtraction[] {
  const out: FieldExtraction[] = [];
  for (const [field, rule] of form.mapping.targets) {
    const columns = columnsOfRule(rule);
    if (columns.length === 0) continue;
    const read = columns.map((c) => cells[c]).filter((c): c is ReadCell => c !== undefined);
    if (read.length === 0) continue;
    // A column list takes the first value present; a template uses every placeholder.
    const used = rule.template !== undefined ? read : [read.find((c) => c.value !== null) ?? read[0]!];
    const weakest = used.reduce((a, b) => (b.confidence < a.confidence ? b : a));
    out.push({ field, source: weakest.source, page: weakest.page, confidence: Math.round(weakest.confidence * 1000) / 1000 });
  }
  return out;
}

export function createPdfExtractor(options: PdfExtractorOptions): PdfExtractor {
  const limit = pLimit(options.concurrency);
  const pool = workerPool(options);
  const forms = new Map(options.forms.map((f) => [f.name, f]));
  const shapes = options.forms.map(shapeOf);
  const limits = {
    maxPages: options.maxPages,
    maxImagePixels: options.maxImagePixels,
    dpi: options.dpi,
    tool: { timeoutMs: options.timeoutMs, memoryBytes: options.memoryMb * 1024 * 1024 * 4 },
  };
  return {
    get pending() {
      return limit.activeCount + limit.pendingCount;
    },
    extract: (pdf) =>
      limit(async () => {
        const reading = await pool.run({ bytes: pdf, forms: shapes, limits });
        const form = forms.get(reading.form)!;
        const cells = reading.cells;
        const mapped = form.mapper.map((column) => cells[column]?.value ?? null);
        const fields = fieldExtractions(form, cells);
        if (!mapped.ok) {
          const where = fields.filter((f) => mapped.columns.some((c) => columnsOfRule(form.mapping.targets.get(f.field)!).includes(c))).map((f) => `${f.field} (${f.source}, page ${f.page})`);
          throw PermitflowError.permanent('PF_PDF_FIELDS_UNREADABLE', `the ${form.name} form read by ${reading.method === 'form' ? 'its fields' : 'OCR'} is not a complete application: ${mapped.message}${where.length > 0 ? ` [${where.join(', ')}]` : ''}`);
        }
        const needsReview = fields.filter((f) => form.required.has(f.field) && f.confidence < options.reviewConfidence);
        return { application: mapped.application, extraction: { form: form.name, method: reading.method, pages: reading.pages, ocrPages: reading.ocrPages, fields, needsReview } };
      }),
  };
}
