/**
 * Identity of a submission: the canonical form of an application and the hashes derived from it.
 *
 * The payload hash is the SHA-256 of the RFC 8785 (JCS) canonical JSON, so the same application
 * submitted twice, with keys in another order or other whitespace, has the same hash. The
 * submission hash (`submissionHashOf`) is that hash when there are no attachments, else a digest
 * of it and the attachments' kinds and SHA-256s: the windower drops a repeat of the same
 * application with the same attachments, but not a resubmission that adds one.
 */
import { hash } from 'node:crypto';
import { PermitflowError } from '../lib/errors.ts';

/**
 * RFC 8785 canonical JSON, the output of the `canonicalize` package (2.1.0, kept as the oracle of
 * test/unit/canonical-json.test.ts) for every input, quirks included (a function value writes
 * `undefined`). Written out because its reduce-and-template serialisation was a tenth of an
 * import's CPU: here one string is appended to and already-sorted keys are not sorted again.
 */
export function canonicalJson(value: unknown): string | undefined {
  // Already in canonical key order (as the importer's mapper builds rows): V8's own serialiser
  // writes the same text several times faster.
  if (value !== null && typeof value === 'object' && isInCanonicalOrder(value)) return JSON.stringify(value);
  return serialize(value);
}

/**
 * Whether JSON.stringify writes `value` exactly as canonicalize would: keys sorted at every level
 * (JSON.stringify follows Object.keys' order), finite numbers, no holes, functions or toJSON.
 */
function isInCanonicalOrder(value: unknown): boolean {
  switch (typeof value) {
    case 'string':
    case 'boolean':
    case 'undefined':
      return true;
    case 'number':
      return Number.isFinite(value);
    case 'object': {
      if (value === null) return true;
      if ('toJSON' in value) return false;
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) {
          if (!(i in value)) return false;
          const item: unknown = value[i];
          if (item !== undefined && !isInCanonicalOrder(item)) return false;
        }
        return true;
      }
      // Plain objects only: a boxed string, say, is written by JSON.stringify as its primitive.
      const proto: unknown = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) return false;
      const keys = Object.keys(value);
      for (let i = 0; i < keys.length; i++) {
        if (i > 0 && keys[i - 1]! >= keys[i]!) return false;
        if (!isInCanonicalOrder((value as Record<string, unknown>)[keys[i]!])) return false;
      }
      return true;
    }
    default:
      return false;
  }
}

function serialize(value: unknown): string | undefined {
  if (typeof value === 'number') {
    if (Number.isNaN(value)) throw new Error('NaN is not allowed');
    if (!Number.isFinite(value)) throw new Error('Infinity is not allowed');
  }
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  const toJSON = (value as { toJSON?: unknown }).toJSON;
  if (toJSON instanceof Function) return serialize((toJSON as () => unknown).call(value));
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) {
      // Array.prototype.reduce, which canonicalize uses, skips holes but not their commas.
      if (!(i in value)) continue;
      const item: unknown = value[i];
      if (i > 0) out += ',';
      out += String(serialize(item === undefined || typeof item === 'symbol' ? null : item));
    }
    return `${out}]`;
  }
  const object = value as Record<string, unknown>;
  const keys = Object.keys(object);
  for (let i = 1; i < keys.length; i++) {
    if (keys[i - 1]! > keys[i]!) {
      keys.sort();
      break;
    }
  }
  let out = '{';
  let first = true;
  for (const key of keys) {
    const item = object[key];
    if (item === undefined || typeof item === 'symbol') continue;
    if (!first) out += ',';
    first = false;
    out += `${JSON.stringify(key)}:${String(serialize(item))}`;
  }
  return `${out}}`;
}

export interface CanonicalPayload {
  hash: string;
  bytes: Buffer;
}

/** Whether `value` has the shape of a submission hash: lower-case hex SHA-256. */
export function isSubmissionHash(value: string | null | undefined): value is string {
  return typeof value === 'string' && /^[0-9a-f]{64}$/.test(value);
}

export function sha256Hex(bytes: Buffer | string): string {
  // One-shot: no Hash object per call (a third less CPU for a row-sized input).
  return hash('sha256', bytes, 'hex');
}

export function canonicalPayload(value: unknown): CanonicalPayload {
  const text = canonicalJson(value);
  if (text === undefined) throw PermitflowError.permanent('PF_PAYLOAD_NOT_JSON', 'payload has no JSON representation');
  const bytes = Buffer.from(text, 'utf8');
  return { hash: sha256Hex(bytes), bytes };
}

/** What of an attachment takes part in the submission's identity (its name and media type do not). */
export interface AttachmentIdentity {
  kind: string;
  sha256: string;
}

/**
 * The submission hash, the key of every submission-keyed topic: the canonical payload's hash when
 * there are no attachments (so the importer's, inter-agency producers' and existing records' keys
 * stay what they were), else the SHA-256 of a versioned JSON array of the payload hash and the
 * sorted `[kind, sha256]` of each attachment (JSON, so no kind can forge a separator). Attachments in another order give the same hash;
 * another attachment, or the same file under another kind, gives another submission.
 */
export function submissionHashOf(payloadHash: string, attachments: readonly AttachmentIdentity[]): string {
  if (attachments.length === 0) return payloadHash;
  const digests = attachments.map((a) => JSON.stringify([a.kind, a.sha256])).sort();
  return sha256Hex(JSON.stringify(['permitflow-submission-v1', payloadHash, digests]));
}
