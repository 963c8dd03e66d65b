/**
 * PDF applications dropped into the inbox (`*.pdf`): each file is one submission, read later by
 * the extraction stage. The PDF is claim-checked like an intake attachment (`attachments/<sha256>`,
 * conditional put), and its envelope (payload: the PDF) goes to `submissions.extract` with
 * acks=all; the submission id is the PDF's SHA-256, so a file dropped twice is one submission (the
 * windower drops the duplicate). A file that is not a PDF, or larger than the intake's body limit,
 * is the file's fault: the report says so and the watcher quarantines it.
 */
import { open, stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { attachmentKey } from '../claim-check.ts';
import { createRawProducer } from '../raw-topic.ts';
import { sha256Hex, submissionHashOf } from '../../domain/hashing.ts';
import { PDF_MEDIA_TYPE } from '../../domain/extraction.ts';
import { emptyCounts } from './checkpoints.ts';
import type { ImportDeps, ImportReport } from './importer.ts';

export const isPdfDrop = (path: string): boolean => path.toLowerCase().endsWith('.pdf');

export async function importPdf(path: string, deps: ImportDeps, options: { maxBytes: number; clock?: () => number }): Promise<ImportReport> {
  const clock = options.clock ?? Date.now;
  const started = clock();
  const name = basename(path);
  const report = (status: ImportReport['status'], extra: Partial<ImportReport>): ImportReport => ({
    status,
    path,
    file: { name, sha256: null, size: null, encoding: null, encodingReason: null, bom: false },
    mapping: { name: 'pdf', file: 'connectors/pdf/forms' },
    importId: null,
    resumedFrom: null,
    counts: emptyCounts(),
    duplicatesCountedUpTo: null,
    badRows: [],
    error: null,
    startedAt: new Date(started).toISOString(),
    finishedAt: new Date(clock()).toISOString(),
    elapsedMs: clock() - started,
    rowsPerSecond: 0,
    ...extra,
  });
  const size = (await stat(path)).size;
  if (size > options.maxBytes) return report('failed', { error: { code: 'PF_PDF_TOO_LARGE', message: `${size} bytes, over the ${options.maxBytes} a PDF application may have`, line: null } });
  const file = await open(path, 'r');
  let bytes: Buffer;
  try {
    bytes = await file.readFile();
  } finally {
    await file.close();
  }
  if (!bytes.subarray(0, 1024).toString('latin1').includes('%PDF-')) return report('failed', { error: { code: 'PF_PDF_NOT_PDF', message: 'not a PDF: no %PDF- header in the first 1 KB', line: null } });
  if (!deps.objectStore) return report('failed', { error: { code: 'PF_NO_OBJECT_STORE', message: 'a PDF application is claim-checked, and no object store is configured', line: null } });

  const sha256 = sha256Hex(bytes);
  const objectKey = attachmentKey(sha256);
  await deps.objectStore.putIfAbsent(objectKey, bytes, { contentType: PDF_MEDIA_TYPE, contentLength: bytes.length });
  const document = { name, kind: 'application', contentType: PDF_MEDIA_TYPE, size: bytes.length, sha256, objectKey };
  const producer = await createRawProducer(deps.kafka, deps.serde, deps.topology.topics.raw, deps.topology.topics.extract);
  try {
    await producer.send([
      { submissionHash: submissionHashOf(sha256, []), source: 'file-drop', sourceClient: 'pdf', sourceReference: name, receivedAt: clock(), payload: { contentType: PDF_MEDIA_TYPE, size: bytes.length, sha256, inline: null, objectKey }, attachments: [], traceparent: null, applicationDocument: document },
    ]);
  } finally {
    await producer.close();
  }
  return report('completed', { file: { name, sha256, size: bytes.length, encoding: null, encodingReason: null, bom: false }, counts: { ...emptyCounts(), read: 1, produced: 1 } });
}
