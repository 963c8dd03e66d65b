/**
 * TypeScript shapes of the Avro records in `schemas/avro`. Kept by hand next to the .avsc
 * files; `test/unit/schemas.test.ts` proves samples of each type are valid Avro.
 * Timestamps are epoch milliseconds (Avro timestamp-millis).
 */

export interface PayloadRef {
  contentType: string;
  size: number;
  sha256: string;
  inline: Buffer | null;
  objectKey: string | null;
}

export interface Attachment {
  name: string;
  kind: string;
  contentType: string;
  size: number;
  sha256: string;
  objectKey: string;
}

export const STATES = ['received', 'chunked', 'enriched', 'validated', 'accepted', 'rejected'] as const;
export type State = (typeof STATES)[number];

export interface StateHeader {
  submissionHash: string;
  state: State;
  batchId: string | null;
  idempotencyKey: string;
  at: number;
  workerId: string;
  attempt: number;
  traceparent: string | null;
  /** When the intake accepted the submission (absent on records written before it existed). */
  receivedAt?: number | null;
}

export interface SubmissionEnvelope {
  submissionHash: string;
  source: string;
  sourceClient: string | null;
  sourceReference: string | null;
  receivedAt: number;
  payload: PayloadRef;
  attachments: Attachment[];
  traceparent: string | null;
  /** The PDF the application was read from, when it came as one (see submission-envelope.avsc). */
  applicationDocument?: Attachment | null;
  /** How the application was read from that PDF (the extraction stage). */
  extraction?: ExtractionSummary | null;
}

/** common.avsc Extraction: how the extraction stage read an application out of a PDF. */
export interface ExtractionSummary {
  form: string;
  method: string;
  pages: number;
  ocrPages: number[];
  fields: Array<{ field: string; source: string; page: number; confidence: number }>;
  needsReview: string[];
}

export interface SubmissionReceived {
  header: StateHeader;
  source: string;
  sourceClient: string | null;
  sourceReference: string | null;
  receivedAt: number;
  rawOffset: number;
  payload: PayloadRef;
  attachments: Attachment[];
  /** How the application was read from its PDF, when it came as one. */
  extraction?: ExtractionSummary | null;
}

export interface SubmissionChunked {
  header: StateHeader;
  batchSize: number;
  sourceReference: string | null;
  receivedAt: number;
  payload: PayloadRef;
  attachments: Attachment[];
}

export interface LookupResult {
  lookup: string;
  outcome: 'found' | 'not_found' | 'outside_jurisdiction';
  source: string;
  fetchedAt: number;
  cacheHit: boolean;
  attempt: number;
  data: string | null;
}

export interface SubmissionEnriched {
  header: StateHeader;
  payload: PayloadRef;
  attachments: Attachment[];
  lookups: LookupResult[];
}

export interface Finding {
  code: string;
  severity: 'ERROR' | 'WARNING' | 'INFO';
  field: string | null;
  message: string;
  ruleSetVersion: string;
}

export interface SubmissionValidated {
  header: StateHeader;
  payload: PayloadRef;
  ruleSetVersion: string;
  findings: Finding[];
  computedFeeCents: number | null;
  paidFeeCents: number | null;
}

export interface SubmissionAccepted {
  header: StateHeader;
  jurisdiction: string;
  permitType: string;
  parcelNumber: string | null;
  reviewTrack: string;
  computedFeeCents: number | null;
  warnings: string[];
}

export interface Reason {
  code: string;
  field: string | null;
  message: string;
}

export interface SubmissionRejected {
  header: StateHeader;
  reasons: Reason[];
}

export interface BatchManifest {
  batchId: string;
  idempotencyKey: string;
  partition: number;
  members: string[];
  count: number;
  bytes: number;
  openedAt: number;
  closedAt: number;
  closeReason: 'COUNT' | 'BYTES' | 'AGE' | 'UNKNOWN';
  firstOffset: number;
  lastOffset: number;
  archiveKey: string | null;
  workerId: string;
}

export interface DeadLetter {
  submissionHash: string | null;
  batchId: string | null;
  stage: string;
  consumerGroup: string;
  errorClass: string;
  errorMessage: string;
  errorChain: string[];
  attempt: number;
  firstFailureAt: number;
  lastFailureAt: number;
  originalTopic: string;
  originalPartition: number;
  originalOffset: number;
  originalTimestamp: number;
  originalKey: Buffer | null;
  originalValue: Buffer | null;
  originalHeaders: Record<string, string>;
  traceId: string | null;
  workerId: string;
  /** A replayed record that failed again: kept for an operator, never replayed automatically. */
  parked: boolean;
}

/** The application itself (payload of a submission), per `permit-application.avsc`. */
export interface PermitApplication {
  jurisdiction: string;
  sourceReference?: string | null;
  permitType: string;
  permitTypeDescription?: string | null;
  permitClass: string;
  workClass: string;
  description: string;
  appliedAt?: string | null;
  masterPermitNumber?: string | null;
  site: {
    address: { line1: string; line2?: string | null; city: string; state: string; postalCode: string };
    parcelNumber?: string | null;
    latitude?: number | null;
    longitude?: number | null;
  };
  applicant: { name: string; organization?: string | null; email?: string | null; phone?: string | null; role?: string };
  contractor?: {
    companyName: string;
    licenseNumber?: string | null;
    licenseState?: string | null;
    trade?: string | null;
    phone?: string | null;
    email?: string | null;
  } | null;
  project: {
    estimatedCost: number;
    projectName?: string | null;
    proposedUse?: string | null;
    totalSqFt?: number | null;
    addedSqFt?: number | null;
    removedSqFt?: number | null;
    housingUnits?: number | null;
    stories?: number | null;
  };
  payment?: { amountPaid: number; currency?: string; reference?: string | null } | null;
  extraFields?: Record<string, string>;
}
