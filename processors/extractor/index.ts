/**
 * Extractor: consumes `submissions.extract` (envelopes whose application is a claim-checked PDF,
 * from the intake and the file drop) and emits, for each, the envelope of an ordinary
 * submission on `submissions.raw`: same submission hash, same attachments, the application read
 * from the PDF (with its extraction report) as the payload, and the PDF as `applicationDocument`.
 * The windower and every later stage then treat it like any other submission; JSON submissions
 * never pass through here, so they never wait for OCR.
 *
 * Stateless, one output per input in the runtime's transaction. A PDF that cannot be read
 * (refused by the reader: encrypted, malformed, too large, scripts, unknown form, required fields
 * unreadable) is a permanent failure: the runtime dead-letters it with the cause and goes on.
 * Loading the PDF or storing the application may fail on the object store: infrastructure, retried.
 */
import type { ApplicationReader, ExtractedApplication } from '../../domain/extraction.ts';
import { PDF_MEDIA_TYPE } from '../../domain/extraction.ts';
import { canonicalPayload, submissionHashOf, type CanonicalPayload } from '../../domain/hashing.ts';
import type { PayloadSource } from '../../domain/ports.ts';
import { PermitflowError } from '../../lib/errors.ts';
import type { Attachment, PayloadRef, SubmissionEnvelope } from '../../schemas/types.ts';
import type { Topology } from '../../topology/topics.ts';
import { declaredInputs } from '../runtime/contract.ts';
import type { Output, ProcessorDefinition } from '../runtime/types.ts';
import { EXTRACTOR } from './topology.ts';

export interface ExtractorOptions {
  topology: Topology;
  workerId: string;
  reader: ApplicationReader;
  /** The PDF (claim-checked, hash-checked on load). */
  payloads: PayloadSource;
  /** Stores the extracted application as the claim check stores any payload (inline when small). */
  applications: { store(payload: CanonicalPayload): Promise<PayloadRef> };
  /** PDFs read at once per batch; the reader's pool bounds the process as a whole. */
  concurrency: number;
}

/** The application document an extract-topic envelope carries: its own, or its payload described as one. */
function documentOf(envelope: SubmissionEnvelope): Attachment {
  if (envelope.applicationDocument) return envelope.applicationDocument;
  const { payload } = envelope;
  return { name: 'application.pdf', kind: 'application', contentType: PDF_MEDIA_TYPE, size: payload.size, sha256: payload.sha256, objectKey: payload.objectKey ?? '' };
}

export function createExtractor(options: ExtractorOptions): ProcessorDefinition<SubmissionEnvelope> {
  const { topology } = options;
  return {
    id: 'extractor',
    inputs: declaredInputs(EXTRACTOR, topology),
    concurrency: options.concurrency,
    async process(record): Promise<Output[]> {
      const envelope = record.value;
      const { payload } = envelope;
      if (payload.contentType !== PDF_MEDIA_TYPE) throw PermitflowError.permanent('PF_EXTRACT_NOT_PDF', `the payload is ${payload.contentType.slice(0, 100)}, not ${PDF_MEDIA_TYPE}: only PDF applications are extracted`);
      if (payload.objectKey === null) throw PermitflowError.permanent('PF_EXTRACT_NOT_CLAIM_CHECKED', 'a PDF application must be claim-checked (payload objectKey), never inline');
      // The intake keyed the submission by the PDF and the attachments: the application read from it keeps that identity.
      if (submissionHashOf(payload.sha256, envelope.attachments) !== envelope.submissionHash || (record.key !== null && record.key !== envelope.submissionHash)) {
        throw PermitflowError.permanent('PF_INVALID_ENVELOPE', 'submissionHash is not the hash of the PDF and its attachments');
      }
      const pdf = await options.payloads.load(payload);
      const { application, extraction } = await options.reader.extract(pdf);
      const extracted: ExtractedApplication = { ...application, extraction: { ...extraction, document: { sha256: payload.sha256, size: payload.size } } };
      const stored = await options.applications.store(canonicalPayload(extracted));
      const out: SubmissionEnvelope = {
        ...envelope,
        sourceReference: envelope.sourceReference ?? application.sourceReference ?? null,
        payload: stored,
        applicationDocument: documentOf(envelope),
        // The report rides on the envelope too, so the windower puts it on `received` and `trace` shows it.
        extraction: { ...extraction, needsReview: extraction.needsReview.map((f) => f.field) },
      };
      return [{ topic: topology.topics.raw, key: envelope.submissionHash, value: out }];
    },
  };
}
