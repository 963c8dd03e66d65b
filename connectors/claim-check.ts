/**
 * Claim check for submissions: where a payload is kept. Payloads up to the inline limit ride
 * inside the envelope (no object-store call on the hot path); larger ones and every attachment go
 * to the object store under content-addressed keys, written once. The hashes are domain/hashing.ts.
 */
import { PermitflowError } from '../lib/errors.ts';
import { sha256Hex, type CanonicalPayload } from '../domain/hashing.ts';
import type { PayloadSource } from '../domain/ports.ts';
import type { PayloadRef } from '../schemas/types.ts';
import type { ObjectStore } from './object-store.ts';

export const payloadKey = (sha256: string): string => `raw/${sha256}`;
export const attachmentKey = (sha256: string): string => `attachments/${sha256}`;

/** Keeps the payload inline when small, else writes it once to the object store. */
export async function storePayload(store: ObjectStore | undefined, payload: CanonicalPayload, inlineLimit: number): Promise<PayloadRef> {
  const ref = { contentType: 'application/json', size: payload.bytes.length, sha256: payload.hash };
  if (payload.bytes.length <= inlineLimit) return { ...ref, inline: payload.bytes, objectKey: null };
  if (!store) throw PermitflowError.permanent('PF_NO_OBJECT_STORE', `payload of ${payload.bytes.length} bytes exceeds the inline limit and no object store is configured`);
  const objectKey = payloadKey(payload.hash);
  await store.putIfAbsent(objectKey, payload.bytes, { contentType: 'application/json', contentLength: payload.bytes.length });
  return { ...ref, inline: null, objectKey };
}

/** The payload bytes a reference points to, checked against its hash. */
export async function loadPayload(store: ObjectStore | undefined, ref: PayloadRef): Promise<Buffer> {
  let bytes: Buffer;
  if (ref.inline) bytes = ref.inline;
  else if (ref.objectKey && store) bytes = await store.get(ref.objectKey);
  else throw PermitflowError.permanent('PF_PAYLOAD_MISSING', 'payload reference has neither inline bytes nor an object key');
  if (sha256Hex(bytes) !== ref.sha256) throw PermitflowError.permanent('PF_PAYLOAD_CORRUPT', `payload does not match its sha256 ${ref.sha256}`);
  return bytes;
}

/** The object store as the processors' payload source (inline or claim-checked, hash-checked). */
export const objectStorePayloads = (store: ObjectStore | undefined): PayloadSource => ({ load: (ref) => loadPayload(store, ref) });
