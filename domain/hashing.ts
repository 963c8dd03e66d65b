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
import canonicalizeModule from 'canonicalize';
import { PermitflowError } from '../lib/errors.ts';

// canonicalize is CommonJS (`module.exports = fn`) but its types declare an ES default export.
const canonicalize = canonicalizeModule as unknown as (typeof canonicalizeModule)['default'];

/**
 * RFC 8785 canonical JSON, as the `canonicalize` package writes it (test/unit/canonical-json.test.ts
 * holds the two paths to it). A value already in canonical key order (as the importer's mapper
 * builds rows) is written by V8's own serialiser, several times faster: the package's
 * reduce-and-template serialisation was a tenth of an import's CPU.
 */
export function canonicalJson(value: unknown): string | undefined {
  if (value !== null && typeof value === 'object' && isInCanonicalOrder(value)) return JSON.stringify(value);
  return canonicalize(value);
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
