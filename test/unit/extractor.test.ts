/**
 * The extractor as a processor, with a fake reader and in-memory payloads: a PDF envelope comes
 * back as an ordinary raw envelope (same submission hash, the application with its extraction
 * report as payload, the PDF as applicationDocument) that the windower accepts; envelopes that
 * are not a claim-checked PDF of their own hash, and PDFs the reader refuses, are permanent
 * failures (dead letters).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ApplicationReader, Extraction } from '../../domain/extraction.ts';
import { canonicalPayload, sha256Hex, submissionHashOf } from '../../domain/hashing.ts';
import { PermitflowError } from '../../lib/errors.ts';
import { createLogger } from '../../lib/logger.ts';
import { createExtractor } from '../../processors/extractor/index.ts';
import type { RecordContext, TopicOutput } from '../../processors/runtime/types.ts';
import { envelopeProblem } from '../../processors/windower/index.ts';
import type { PayloadRef, SubmissionEnvelope } from '../../schemas/types.ts';
import { buildTopology } from '../../topology/topics.ts';
import { F100_EXPECTED } from '../support/pdf-forms.ts';

const topology = buildTopology({ namespace: 'permits', partitions: 6, replicationFactor: 1, minCompactionLagMs: 0 });
const ctx: RecordContext = { processor: 'extractor', workerId: 'extractor-1', logger: createLogger({ level: 'silent' }), traceparent: '', signal: new AbortController().signal, pauseUntil: () => undefined };
const PDF = Buffer.from('%PDF-1.7 a stand-in: the fake reader does not parse it\n%%EOF\n');
const EXTRACTION: Extraction = { form: 'nj-ucc-f100', method: 'ocr', pages: 1, ocrPages: [1], fields: [{ field: 'applicant.name', source: 'ocr', page: 1, confidence: 0.93 }], needsReview: [] };
const reader: ApplicationReader = { extract: () => Promise.resolve({ application: structuredClone(F100_EXPECTED) as never, extraction: EXTRACTION }) };
const refusing: ApplicationReader = { extract: () => Promise.reject(PermitflowError.permanent('PF_PDF_ENCRYPTED', 'the PDF is encrypted (password-protected); send it without a password')) };
const objects = new Map<string, Buffer>([[`attachments/${sha256Hex(PDF)}`, PDF]]);
const payloads = { load: (ref: PayloadRef) => Promise.resolve(ref.inline ?? objects.get(ref.objectKey!)!) };
const applications = { store: (p: ReturnType<typeof canonicalPayload>) => Promise.resolve({ contentType: 'application/json', size: p.bytes.length, sha256: p.hash, inline: p.bytes, objectKey: null }) };

function pdfEnvelope(overrides: Partial<SubmissionEnvelope> = {}): SubmissionEnvelope {
  const sha256 = sha256Hex(PDF);
  return {
    submissionHash: submissionHashOf(sha256, []),
    source: 'http',
    sourceClient: 'portal',
    sourceReference: null,
    receivedAt: 1_764_000_000_000,
    payload: { contentType: 'application/pdf', size: PDF.length, sha256, inline: null, objectKey: `attachments/${sha256}` },
    attachments: [],
    traceparent: null,
    ...overrides,
  };
}

const run = (envelope: SubmissionEnvelope, r: ApplicationReader = reader) =>
  createExtractor({ topology, workerId: 'extractor-1', reader: r, payloads, applications, concurrency: 2 }).process({ topic: topology.topics.extract, partition: 1, offset: '4', timestamp: 1, key: envelope.submissionHash, value: envelope, headers: {} }, ctx);

test('a PDF envelope comes back on raw as an ordinary submission of the same hash, which the windower accepts', async () => {
  const input = pdfEnvelope();
  const [out, ...more] = (await run(input)) as TopicOutput[];
  assert.equal(more.length, 0);
  assert.equal(out!.topic.name, 'permits.submissions.raw');
  assert.equal(out!.key, input.submissionHash);
  const envelope = out!.value as SubmissionEnvelope;
  assert.equal(envelope.submissionHash, input.submissionHash);
  assert.deepEqual(envelope.applicationDocument, { name: 'application.pdf', kind: 'application', contentType: 'application/pdf', size: PDF.length, sha256: sha256Hex(PDF), objectKey: `attachments/${sha256Hex(PDF)}` });
  const application = JSON.parse(envelope.payload.inline!.toString('utf8')) as Record<string, unknown>;
  assert.deepEqual({ ...application, extraction: undefined }, { ...F100_EXPECTED, extraction: undefined });
  assert.deepEqual(application.extraction, { ...EXTRACTION, document: { sha256: sha256Hex(PDF), size: PDF.length } });
  assert.equal(envelopeProblem(envelope, out!.key), null);
  // The same payload without its document is not that submission: the windower refuses it.
  assert.match(envelopeProblem({ ...envelope, applicationDocument: null }, out!.key)!, /not the hash of the inline payload/);
  assert.match(envelopeProblem({ ...envelope, applicationDocument: { ...envelope.applicationDocument, sha256: 'cd'.repeat(32) } }, out!.key)!, /not the hash of the application document/);
});

test('what is not a claim-checked PDF of its own hash, or what the reader refuses, is a permanent failure with the cause', async () => {
  const cases: Array<[SubmissionEnvelope, ApplicationReader, string]> = [
    [pdfEnvelope({ payload: { ...pdfEnvelope().payload, contentType: 'application/json' } }), reader, 'PF_EXTRACT_NOT_PDF'],
    [pdfEnvelope({ submissionHash: 'ab'.repeat(32) }), reader, 'PF_INVALID_ENVELOPE'],
    [pdfEnvelope({ payload: { ...pdfEnvelope().payload, inline: PDF, objectKey: null } }), reader, 'PF_EXTRACT_NOT_CLAIM_CHECKED'],
    [pdfEnvelope(), refusing, 'PF_PDF_ENCRYPTED'],
  ];
  for (const [envelope, r, code] of cases) {
    await assert.rejects(Promise.resolve().then(() => run(envelope, r)), (err: PermitflowError) => err.code === code && err.retriable === false, code);
  }
});
