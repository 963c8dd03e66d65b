/**
 * Read side of the read model: which submissions an id names, and a submission's whole
 * timeline (state events and dead letters, in pipeline order), its batch and its permit.
 * One indexed query each, so `trace` and the status endpoint answer in milliseconds.
 */
import type pg from 'pg';
import type { State } from '../../schemas/types.ts';
import { deadLetterRank, DEAD_LETTERED, STATUS_RANK } from './records.ts';

export interface TimelineEvent {
  state: State | typeof DEAD_LETTERED;
  /** Epoch milliseconds. */
  at: number;
  workerId: string;
  batchId: string | null;
  idempotencyKey: string | null;
  traceId: string | null;
  attempt: number;
  /** The state's own payload (findings, reasons, lookups...) or, for a dead letter, its error. */
  detail: Record<string, unknown>;
}

export interface Timeline {
  submissionHash: string;
  status: string;
  statusAt: number;
  source: string | null;
  sourceClient: string | null;
  sourceReference: string | null;
  receivedAt: number | null;
  batch: { batchId: string; memberCount: number | null; accepted: number; rejected: number; deadLettered: number; complete: boolean } | null;
  permit: { permitType: string; reviewTrack: string; computedFeeCents: number | null; publishedAt: number } | null;
  events: TimelineEvent[];
}

const HEX_PREFIX = /^[0-9a-f]{8,64}$/;
const ms = (d: Date | null): number | null => (d === null ? null : d.getTime());

/** Submission hashes named by a full hash, a hash prefix (8+ hex digits) or a source reference. */
export async function findSubmissions(pool: pg.Pool, id: string): Promise<string[]> {
  const prefix = HEX_PREFIX.test(id) ? id : null;
  // A prefix as a key range ('g' sorts after every hex digit), so the primary key's index serves it.
  const { rows } = await pool.query<{ submission_hash: string }>(
    `SELECT submission_hash FROM submissions
      WHERE source_reference = $1 OR ($2::text IS NOT NULL AND submission_hash >= $2 AND submission_hash < $2 || 'g')
      ORDER BY received_at NULLS LAST, submission_hash LIMIT 20`,
    [id, prefix],
  );
  return rows.map((r) => r.submission_hash);
}

interface EventRow {
  state: string;
  at: Date;
  worker_id: string;
  batch_id: string | null;
  idempotency_key: string | null;
  trace_id: string | null;
  attempt: number;
  detail: Record<string, unknown>;
}

export async function readTimeline(pool: pg.Pool, submissionHash: string): Promise<Timeline | undefined> {
  const [submission, events, letters] = await Promise.all([
    pool.query<{
      status: string;
      status_at: Date;
      source: string | null;
      source_client: string | null;
      source_reference: string | null;
      received_at: Date | null;
      batch_id: string | null;
      member_count: number | null;
      accepted_count: number | null;
      rejected_count: number | null;
      dead_lettered_count: number | null;
      complete: boolean | null;
      permit_type: string | null;
      review_track: string | null;
      computed_fee_cents: string | null;
      published_at: Date | null;
    }>(
      `SELECT s.status, s.status_at, s.source, s.source_client, s.source_reference, s.received_at, s.batch_id,
              b.member_count, b.accepted_count, b.rejected_count, b.dead_lettered_count, b.complete,
              p.permit_type, p.review_track, p.computed_fee_cents, p.published_at
         FROM submissions s
         LEFT JOIN batches b ON b.batch_id = s.batch_id
         LEFT JOIN permits p ON p.submission_hash = s.submission_hash
        WHERE s.submission_hash = $1`,
      [submissionHash],
    ),
    pool.query<EventRow>('SELECT state, at, worker_id, batch_id, idempotency_key, trace_id, attempt, detail FROM submission_events WHERE submission_hash = $1', [submissionHash]),
    pool.query<EventRow & { stage: string }>(
      `SELECT 'dead_lettered' AS state, last_failure_at AS at, worker_id, batch_id, NULL AS idempotency_key, trace_id, attempt, stage,
              jsonb_build_object('stage', stage, 'consumerGroup', consumer_group, 'errorClass', error_class, 'errorMessage', error_message, 'errorChain', to_jsonb(error_chain),
                                 'originalTopic', original_topic, 'originalPartition', original_partition, 'originalOffset', original_offset, 'firstFailureAt', first_failure_at) AS detail
         FROM dead_letters WHERE submission_hash = $1`,
      [submissionHash],
    ),
  ]);
  const s = submission.rows[0];
  if (!s) return undefined;
  const rank = (e: EventRow & { stage?: string }) => (e.state === DEAD_LETTERED ? deadLetterRank(e.stage ?? '') : STATUS_RANK[e.state as State]);
  const all = [...events.rows, ...letters.rows].sort((a, b) => rank(a) - rank(b) || a.at.getTime() - b.at.getTime());
  return {
    submissionHash,
    status: s.status,
    statusAt: s.status_at.getTime(),
    source: s.source,
    sourceClient: s.source_client,
    sourceReference: s.source_reference,
    receivedAt: ms(s.received_at),
    batch:
      s.batch_id === null
        ? null
        : { batchId: s.batch_id, memberCount: s.member_count, accepted: s.accepted_count ?? 0, rejected: s.rejected_count ?? 0, deadLettered: s.dead_lettered_count ?? 0, complete: s.complete ?? false },
    permit:
      s.permit_type === null
        ? null
        : { permitType: s.permit_type, reviewTrack: s.review_track!, computedFeeCents: s.computed_fee_cents === null ? null : Number(s.computed_fee_cents), publishedAt: s.published_at!.getTime() },
    events: all.map((e) => ({
      state: e.state as TimelineEvent['state'],
      at: e.at.getTime(),
      workerId: e.worker_id,
      batchId: e.batch_id,
      idempotencyKey: e.idempotency_key,
      traceId: e.trace_id,
      attempt: e.attempt,
      detail: e.detail,
    })),
  };
}
