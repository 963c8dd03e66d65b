/**
 * What each consumed record becomes in the read model: pure mapping, no SQL.
 *
 * Personal data stays out: payloads are described by hash and size only, attachments by kind,
 * lookups by outcome and provenance (their data holds addresses), and the application itself
 * is never read. NUL characters, which PostgreSQL text cannot hold, are removed.
 */
import type {
  Attachment,
  DeadLetter,
  PayloadRef,
  State,
  SubmissionAccepted,
  SubmissionChunked,
  SubmissionEnriched,
  SubmissionReceived,
  SubmissionRejected,
  SubmissionValidated,
} from '../../schemas/types.ts';
import { errorChain, scrubText } from '../../lib/errors.ts';
import { traceIdOf } from '../../lib/observability/tracing.ts';
import { isSubmissionHash } from '../../domain/hashing.ts';

/** Order of states for `submissions.status`: the furthest state reached wins, whatever the arrival order across topics. */
export const STATUS_RANK: Record<State, number> = { received: 10, chunked: 20, enriched: 30, validated: 40, accepted: 50, rejected: 50 };

/**
 * States whose status the `submissions` view reads from the events (migration 0003, which
 * repeats their ranks in SQL: test/unit/read-model-ranks.test.ts keeps the two in step); the
 * sink writes no `submissions_recorded` row for them.
 */
export const READ_FROM_EVENTS: ReadonlySet<string> = new Set<State>(['chunked', 'enriched', 'validated']);

/** A dead letter ranks just after the state its stage consumed: a later state (after a replay) supersedes it. */
const DEAD_LETTER_RANK: Record<string, number> = { windower: 5, enricher: 25, validator: 35, decider: 45 };

export const DEAD_LETTERED = 'dead_lettered';

/** Unknown stages rank lowest: they never hide a state reached. */
export const deadLetterRank = (stage: string): number => DEAD_LETTER_RANK[stage] ?? 1;

export interface EventRow {
  submissionHash: string;
  state: State;
  batchId: string | null;
  idempotencyKey: string;
  at: number;
  workerId: string;
  attempt: number;
  traceparent: string | null;
  traceId: string | null;
  detail: Record<string, unknown>;
}

/** A change to `submissions`: status by rank, other columns fill in when still empty. */
export interface SubmissionPatch {
  submissionHash: string;
  status: string;
  rank: number;
  statusAt: number;
  source?: string | null;
  sourceClient?: string | null;
  sourceReference?: string | null;
  receivedAt?: number | null;
  batchId?: string | null;
  reviewTrack?: string | null;
}

/**
 * What the read model keeps of a dead letter: a list of allowed fields, not the letter minus a
 * few, so a field added to DeadLetter (the original bytes hold the application) never flows
 * into PostgreSQL by itself.
 */
export type DeadLetterRow = Pick<
  DeadLetter,
  | 'submissionHash'
  | 'batchId'
  | 'stage'
  | 'consumerGroup'
  | 'errorClass'
  | 'errorMessage'
  | 'errorChain'
  | 'attempt'
  | 'firstFailureAt'
  | 'lastFailureAt'
  | 'originalTopic'
  | 'originalPartition'
  | 'originalOffset'
  | 'traceId'
  | 'workerId'
>;


/** Whether any string in `value`, deeply, holds a NUL character; allocates nothing. */
function hasNul(value: unknown): boolean {
  if (typeof value === 'string') return value.includes('\u0000');
  if (Array.isArray(value)) return value.some(hasNul);
  if (value !== null && typeof value === 'object' && !Buffer.isBuffer(value)) {
    for (const key in value) if (Object.hasOwn(value, key) && hasNul((value as Record<string, unknown>)[key])) return true;
  }
  return false;
}

function withoutNul<T>(value: T): T {
  if (typeof value === 'string') return value.replaceAll('\u0000', '') as T;
  if (Array.isArray(value)) return value.map(withoutNul) as T;
  if (value !== null && typeof value === 'object' && !Buffer.isBuffer(value)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, withoutNul(v)])) as T;
  }
  return value;
}

/**
 * Removes NUL characters from every string, deeply (PostgreSQL text and jsonb refuse them).
 * Almost no record holds one, so it is looked for first and the value copied only when found
 * (copying every record was the read model's largest self time).
 */
export function clean<T>(value: T): T {
  return hasNul(value) ? withoutNul(value) : value;
}

const payloadSummary = (p: PayloadRef) => ({ sha256: p.sha256, size: p.size, contentType: p.contentType, inline: p.inline !== null, objectKey: p.objectKey });
const attachmentSummary = (list: Attachment[]) => list.map((a) => ({ kind: a.kind, contentType: a.contentType, size: a.size, sha256: a.sha256, objectKey: a.objectKey }));

export type StateRecord = SubmissionReceived | SubmissionChunked | SubmissionEnriched | SubmissionValidated | SubmissionAccepted | SubmissionRejected;

/** The stage's own payload for the timeline, per state (header.state says which record it is). */
function detailOf(record: StateRecord): Record<string, unknown> {
  switch (record.header.state) {
    case 'received': {
      const r = record as SubmissionReceived;
      return { source: r.source, sourceClient: r.sourceClient, sourceReference: r.sourceReference, receivedAt: r.receivedAt, rawOffset: r.rawOffset, payload: payloadSummary(r.payload), attachments: attachmentSummary(r.attachments), extraction: r.extraction ?? null };
    }
    case 'chunked': {
      const r = record as SubmissionChunked;
      return { batchSize: r.batchSize, sourceReference: r.sourceReference, receivedAt: r.receivedAt, payload: payloadSummary(r.payload), attachments: attachmentSummary(r.attachments) };
    }
    case 'enriched': {
      const r = record as SubmissionEnriched;
      return { payload: payloadSummary(r.payload), lookups: r.lookups.map((l) => ({ lookup: l.lookup, outcome: l.outcome, source: l.source, fetchedAt: l.fetchedAt, cacheHit: l.cacheHit, attempt: l.attempt })) };
    }
    case 'validated': {
      const r = record as SubmissionValidated;
      return { ruleSetVersion: r.ruleSetVersion, findings: r.findings, computedFeeCents: r.computedFeeCents, paidFeeCents: r.paidFeeCents };
    }
    case 'accepted': {
      const r = record as SubmissionAccepted;
      return { jurisdiction: r.jurisdiction, permitType: r.permitType, parcelNumber: r.parcelNumber, reviewTrack: r.reviewTrack, computedFeeCents: r.computedFeeCents, warnings: r.warnings };
    }
    case 'rejected':
      return { reasons: (record as SubmissionRejected).reasons };
  }
}

/** A decoded state record as its event row and its change to `submissions`. */
export function stateRecord(record: StateRecord): { event: EventRow; patch: SubmissionPatch } {
  const h = record.header;
  const event: EventRow = clean({
    submissionHash: h.submissionHash,
    state: h.state,
    batchId: h.batchId,
    idempotencyKey: h.idempotencyKey,
    at: h.at,
    workerId: h.workerId,
    attempt: h.attempt,
    traceparent: h.traceparent,
    traceId: traceIdOf(h.traceparent),
    detail: detailOf(record),
  });
  const patch: SubmissionPatch = { submissionHash: h.submissionHash, status: h.state, rank: STATUS_RANK[h.state], statusAt: h.at, batchId: h.batchId };
  if (h.state === 'received') {
    const r = record as SubmissionReceived;
    Object.assign(patch, { source: r.source, sourceClient: r.sourceClient, receivedAt: r.receivedAt, sourceReference: r.sourceReference });
  }
  if (h.state === 'chunked') patch.sourceReference = (record as SubmissionChunked).sourceReference;
  if (h.state === 'accepted') patch.reviewTrack = (record as SubmissionAccepted).reviewTrack;
  return { event, patch: clean(patch) };
}

/** A dead letter as its row and, when it names a submission, that submission's change. */
export function deadLetterRecord(letter: DeadLetter, batchId: string | null): { row: DeadLetterRow; patch: SubmissionPatch | null } {
  const hash = isSubmissionHash(letter.submissionHash) ? letter.submissionHash : null;
  const row: DeadLetterRow = clean({
    submissionHash: hash,
    batchId: letter.batchId ?? batchId,
    stage: letter.stage,
    consumerGroup: letter.consumerGroup,
    errorClass: letter.errorClass,
    errorMessage: letter.errorMessage,
    errorChain: letter.errorChain,
    attempt: letter.attempt,
    firstFailureAt: letter.firstFailureAt,
    lastFailureAt: letter.lastFailureAt,
    originalTopic: letter.originalTopic,
    originalPartition: letter.originalPartition,
    originalOffset: letter.originalOffset,
    traceId: letter.traceId,
    workerId: letter.workerId,
  });
  const patch = hash === null ? null : { submissionHash: hash, status: DEAD_LETTERED, rank: deadLetterRank(letter.stage), statusAt: letter.lastFailureAt, batchId: row.batchId };
  return { row, patch };
}


/** Stage name of the letters the read model writes itself, for records PostgreSQL refused. */
export const READ_MODEL_STAGE = 'read-model';

/** Longest error text kept per line of a set-aside letter: an error message is no place for data. */
const MAX_ERROR_TEXT = 500;

export interface RefusedRecord {
  group: string;
  topic: string;
  partition: number;
  offset: bigint;
  /** The submission the record names, when it names one. */
  submissionHash: string | null;
  traceId: string | null;
  workerId: string;
}

/**
 * A record PostgreSQL refused (a data error: an index row over the btree maximum, a value out
 * of range) as a dead letter of the read model itself: its cause, where it is on its topic,
 * and never its content (error texts are scrubbed of quoted values). The submission ranks
 * lowest as dead-lettered: any state it reaches later supersedes it.
 */
export function refusedRecord(source: RefusedRecord, err: unknown, now = Date.now()): { row: DeadLetterRow; patch: SubmissionPatch | null } {
  const chain = errorChain(err).map((line) => scrubText(line).slice(0, MAX_ERROR_TEXT));
  const hash = isSubmissionHash(source.submissionHash) ? source.submissionHash : null;
  const row: DeadLetterRow = clean({
    submissionHash: hash,
    batchId: null,
    stage: READ_MODEL_STAGE,
    consumerGroup: source.group,
    errorClass: 'PF_READ_MODEL_REFUSED',
    errorMessage: chain[0] ?? 'refused by PostgreSQL',
    errorChain: chain,
    attempt: 1,
    firstFailureAt: now,
    lastFailureAt: now,
    originalTopic: source.topic,
    originalPartition: source.partition,
    originalOffset: Number(source.offset),
    traceId: source.traceId,
    workerId: source.workerId,
  });
  const patch = hash === null ? null : { submissionHash: hash, status: DEAD_LETTERED, rank: deadLetterRank(READ_MODEL_STAGE), statusAt: now, batchId: null };
  return { row, patch };
}
