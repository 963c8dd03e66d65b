/**
 * The sample applications (test/fixtures/applications.json) as the end-to-end tests submit
 * them, with the attachments each comes with and the decision the us-or-cedar-county rules
 * and the Cedar County fixtures (test/fixtures/lookups) must lead to, and why.
 */
import { canonicalPayload, submissionHashOf } from '../../domain/hashing.ts';
import type { Attachment, PermitApplication } from '../../schemas/types.ts';
import { sampleApplications } from '../support/samples.ts';

export interface Expectation {
  attachments: string[];
  outcome: 'accepted' | 'rejected';
  /** Rejection reasons (codes, in order), or the accepted permit's review track and warnings. */
  reasons?: string[];
  track?: string;
  warnings?: string[];
}

export const EXPECTATIONS: Expectation[] = [
  // Alder Creek: a residential addition with its plans, fee paid to the cent.
  { attachments: ['site-plan', 'drawings'], outcome: 'accepted', track: 'standard', warnings: [] },
  // Willow Bend: electrical permit ELE2025-01877 is still Issued on the parcel.
  { attachments: [], outcome: 'rejected', reasons: ['ACTIVE_PERMIT_EXISTS'] },
  // Main St: a cafe in the downtown historic district, overpaid ($2,310.50 for $1,664.50).
  { attachments: ['drawings'], outcome: 'accepted', track: 'major', warnings: ['HISTORIC_DISTRICT_REVIEW', 'FEE_OVERPAID'] },
  // River Rd: demolition without an asbestos survey, and no payment.
  { attachments: [], outcome: 'rejected', reasons: ['ATTACHMENT_REQUIRED', 'FEE_UNDERPAID'] },
  // Hayden Bridge: grading on no parcel, in the floodway, unpaid (the wetland is a warning).
  { attachments: ['site-plan', 'erosion-control-plan'], outcome: 'rejected', reasons: ['PARCEL_NOT_FOUND', 'FLOODWAY_NO_RISE_CERTIFICATION', 'FEE_UNDERPAID'] },
];

export function attachmentsOf(kinds: string[]): Attachment[] {
  return kinds.map((kind) => ({ name: `${kind}.pdf`, kind, contentType: 'application/pdf', size: 1000, sha256: 'ab'.repeat(32), objectKey: `attachments/${'ab'.repeat(32)}` }));
}

export interface SampleSubmission {
  sample: number;
  application: PermitApplication;
  /** The submission hash: of the canonical application and its attachments, as the intake computes it. */
  hash: string;
  /** SHA-256 of the canonical application (`bytes`). */
  payloadHash: string;
  bytes: Buffer;
  attachments: Attachment[];
  expectation: Expectation;
}

/** `copies` distinct submissions of each sample (their source references differ). */
export function sampleSubmissions(copies: number): SampleSubmission[] {
  return sampleApplications().flatMap((original, sample) =>
    Array.from({ length: copies }, (_, n) => {
      const application = { ...original, sourceReference: `${original.sourceReference ?? 'APP'}-${n}` };
      const payload = canonicalPayload(application);
      const expectation = EXPECTATIONS[sample]!;
      const attachments = attachmentsOf(expectation.attachments);
      return { sample, application, hash: submissionHashOf(payload.hash, attachments), payloadHash: payload.hash, bytes: payload.bytes, attachments, expectation };
    }),
  );
}
