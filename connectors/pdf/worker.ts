/**
 * Worker-thread entry of the extraction pool: reads one PDF (read.ts) and posts the reading or
 * the refusal back. Its heap is bounded by the pool's resourceLimits and its life by the pool's
 * deadline, so a hostile document costs one terminated worker, never the stage.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { ErrorCode } from '../../lib/errors.ts';
import { PdfRefused } from './inspect.ts';
import { readPdf, type FormShape, type ReadLimits } from './read.ts';

export interface WorkerInput {
  bytes: Uint8Array;
  forms: FormShape[];
  limits: ReadLimits;
}

export type WorkerOutput = { ok: true; reading: Awaited<ReturnType<typeof readPdf>> } | { ok: false; code: ErrorCode; message: string };

const input = workerData as WorkerInput;
readPdf(input.bytes, input.forms, input.limits).then(
  (reading) => parentPort!.postMessage({ ok: true, reading } satisfies WorkerOutput),
  (err: unknown) => {
    const refused = err instanceof PdfRefused;
    parentPort!.postMessage({ ok: false, code: refused ? err.code : 'PF_PDF_UNREADABLE', message: refused ? err.message : `the PDF could not be read: ${(err as Error).message}` } satisfies WorkerOutput);
  },
);
