/**
 * Durable receipt of a checked submission: attachments, and the payload when above the inline
 * limit, go to the object store under content-addressed keys (conditional put, never
 * overwritten); then the envelope goes to the raw topic with acks=all. Only when that resolved
 * is the submission accepted. The receipt note for status look-ups is best effort: the 202 rests
 * on Kafka alone.
 */
import { createReadStream } from 'node:fs';
import { type CanonicalPayload } from '../../domain/hashing.ts';
import { attachmentKey, storePayload } from '../claim-check.ts';
import type { ObjectStore } from '../object-store.ts';
import { PermitflowError } from '../../lib/errors.ts';
import type { Logger } from '../../lib/logger.ts';
import { withTimeout } from '../../lib/timeout.ts';
import type { Attachment, PermitApplication, SubmissionEnvelope } from '../../schemas/types.ts';
import type { EnvelopeSink } from './envelope-sink.ts';
import type { SpooledAttachment } from './multipart.ts';
import type { ReceiptLog } from './status.ts';

export interface AcceptDeps {
  objectStore: ObjectStore;
  sink: EnvelopeSink;
  receipts: ReceiptLog;
  logger: Logger;
  inlineLimitBytes: number;
  produceTimeoutMs: number;
}

export interface CheckedSubmission {
  application: PermitApplication;
  canonical: CanonicalPayload;
  /** `submissionHashOf` the canonical payload and the attachments. */
  submissionHash: string;
  attachments: readonly SpooledAttachment[];
  client: string;
  receivedAt: number;
  traceparent: string;
}

export interface Accepted {
  envelope: SubmissionEnvelope;
  payloadStored: 'inline' | 'object';
}

async function storeAttachment(store: ObjectStore, a: SpooledAttachment): Promise<Attachment> {
  const objectKey = attachmentKey(a.sha256);
  await store.putIfAbsent(objectKey, createReadStream(a.path), { contentType: a.contentType, contentLength: a.size });
  return { name: a.name, kind: a.kind, contentType: a.contentType, size: a.size, sha256: a.sha256, objectKey };
}

/** A submission whose application is a PDF form: claim-checked like an attachment, read later by the extraction stage. */
export interface PdfSubmission extends Omit<CheckedSubmission, 'application' | 'canonical'> {
  /** `submissionHashOf` the PDF's SHA-256 and the attachments. */
  submissionHash: string;
  document: SpooledAttachment;
}

export async function acceptSubmission(deps: AcceptDeps, s: CheckedSubmission): Promise<Accepted> {
  const attachments = await Promise.all(s.attachments.map((a) => storeAttachment(deps.objectStore, a)));
  const payload = await storePayload(deps.objectStore, s.canonical, deps.inlineLimitBytes);
  return produce(deps, s, {
    submissionHash: s.submissionHash,
    source: 'http',
    sourceClient: s.client,
    sourceReference: s.application.sourceReference ?? null,
    receivedAt: s.receivedAt,
    payload,
    attachments,
    traceparent: s.traceparent,
  });
}

/** The PDF goes to the object store like an attachment; the envelope (its payload the PDF) to the extraction stage's input. */
export async function acceptPdfSubmission(deps: AcceptDeps, s: PdfSubmission): Promise<Accepted> {
  const [document, ...attachments] = await Promise.all([s.document, ...s.attachments].map((a) => storeAttachment(deps.objectStore, a)));
  return produce(deps, s, {
    submissionHash: s.submissionHash,
    source: 'http',
    sourceClient: s.client,
    sourceReference: null,
    receivedAt: s.receivedAt,
    payload: { contentType: document!.contentType, size: document!.size, sha256: document!.sha256, inline: null, objectKey: document!.objectKey },
    attachments,
    traceparent: s.traceparent,
    applicationDocument: document!,
  });
}

async function produce(deps: AcceptDeps, s: Pick<CheckedSubmission, 'client'>, envelope: SubmissionEnvelope): Promise<Accepted> {
  const ms = deps.produceTimeoutMs;
  await withTimeout(deps.sink.send(envelope), ms, () => PermitflowError.retriable('PF_PRODUCE_TIMEOUT', `the raw-topic produce did not complete in ${ms} ms`));
  await deps.receipts.received(envelope.submissionHash, envelope.receivedAt, s.client).catch((err: unknown) => {
    deps.logger.warn({ err, submissionHash: envelope.submissionHash }, 'accepted, but the receipt for status look-ups was not recorded');
  });
  return { envelope, payloadStored: envelope.payload.objectKey === null ? 'inline' : 'object' };
}
