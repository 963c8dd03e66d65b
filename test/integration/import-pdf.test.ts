/**
 * The file drop takes `*.pdf` files: each is claim-checked and its envelope goes to the
 * extraction stage's input under the PDF's own id; a file that is not a PDF is refused (the
 * watcher quarantines it) and nothing is produced.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadPayload } from '../../connectors/claim-check.ts';
import { createImportDeps } from '../../connectors/file-drop/deps.ts';
import { importPdf, isPdfDrop } from '../../connectors/file-drop/pdf.ts';
import { readTopic } from '../../connectors/topic-reader.ts';
import { sha256Hex, submissionHashOf } from '../../domain/hashing.ts';
import { createLogger } from '../../lib/logger.ts';
import type { SubmissionEnvelope } from '../../schemas/types.ts';
import { filledF100 } from '../support/pdf-forms.ts';
import { testConfig, testTopology } from '../support/stack.ts';

test('a dropped PDF goes to submissions.extract claim-checked under its own id; a fake one is refused', async (t) => {
  const config = await testConfig();
  const topology = await testTopology(t, config);
  const deps = createImportDeps(config, createLogger({ level: 'warn' }));
  t.after(() => deps.close());
  const dir = mkdtempSync(join(tmpdir(), 'permitflow-pdf-drop-'));
  const pdf = Buffer.from(await filledF100());
  writeFileSync(join(dir, 'F100 Okafor.PDF'), pdf);
  writeFileSync(join(dir, 'not-a.pdf'), 'jurisdiction,permitType\n');
  assert.equal(isPdfDrop(join(dir, 'F100 Okafor.PDF')), true);
  assert.equal(isPdfDrop(join(dir, 'permits.csv')), false);

  const refused = await importPdf(join(dir, 'not-a.pdf'), deps, { maxBytes: 1_000_000 });
  assert.equal(refused.status, 'failed');
  assert.equal(refused.error?.code, 'PF_PDF_NOT_PDF');
  const tooLarge = await importPdf(join(dir, 'F100 Okafor.PDF'), deps, { maxBytes: 1000 });
  assert.equal(tooLarge.error?.code, 'PF_PDF_TOO_LARGE');

  const report = await importPdf(join(dir, 'F100 Okafor.PDF'), deps, { maxBytes: 1_000_000 });
  assert.equal(report.status, 'completed');
  assert.deepEqual(report.counts, { read: 1, produced: 1, duplicates: 0, bad: 0, flagged: 0 });
  const records = await readTopic<SubmissionEnvelope>(deps.kafka, deps.serde, topology.topics.extract, { timeoutMs: 30_000 });
  assert.equal(records.length, 1);
  const envelope = records[0]!.value;
  assert.equal(envelope.submissionHash, submissionHashOf(sha256Hex(pdf), []));
  assert.equal(envelope.source, 'file-drop');
  assert.equal(envelope.sourceReference, 'F100 Okafor.PDF');
  assert.equal(envelope.payload.contentType, 'application/pdf');
  assert.deepEqual(await loadPayload(deps.objectStore, envelope.payload), pdf);
});
