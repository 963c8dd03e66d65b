/**
 * Worker-thread entry of the extraction pool: reads the PDFs it is sent (read.ts), one at a time,
 * and posts each reading or refusal back. Its heap is bounded by the pool's resourceLimits and
 * each document by the pool's deadline, so a hostile document costs one terminated worker, never
 * the stage.
 */
import { setPriority } from 'node:os';
import { parentPort } from 'node:worker_threads';
import type { ErrorCode } from '../../lib/errors.ts';
import { PdfRefused } from './inspect.ts';
import { readPdf, type FormShape, type ReadLimits } from './read.ts';

export interface WorkerInput {
  bytes: Uint8Array;
  forms: FormShape[];
  limits: ReadLimits;
}

export type WorkerOutput = { ok: true; reading: Awaited<ReturnType<typeof readPdf>> } | { ok: false; code: ErrorCode; message: string };

// Parsing a PDF (pdf-lib) is CPU work like the OCR tools': at the lowest priority too, so that where the extractor
// shares cores with other stages (`run all`, a shared VM) JSON submissions go first. On Linux a nice value is per
// thread, and pid 0 is the calling thread: this lowers this worker alone, never the stage's event loop.
try {
  setPriority(19);
} catch {
  // A platform without per-thread priorities: the worker runs at the stage's.
}

// One document at a time: the pool sends the next only after the answer to this one.
parentPort!.on('message', (input: WorkerInput & { id: number }) => {
  readPdf(input.bytes, input.forms, input.limits).then(
    (reading) => parentPort!.postMessage({ id: input.id, ok: true, reading } satisfies WorkerOutput & { id: number }),
    (err: unknown) => {
      const refused = err instanceof PdfRefused;
      parentPort!.postMessage({ id: input.id, ok: false, code: refused ? err.code : 'PF_PDF_UNREADABLE', message: refused ? err.message : `the PDF could not be read: ${(err as Error).message}` } satisfies WorkerOutput & { id: number });
    },
  );
});
