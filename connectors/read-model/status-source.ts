/**
 * The intake's `SubmissionStatusSource` from the read model: `GET /v1/submissions/{id}` answers
 * with the submission's furthest state and its timeline, plus what an applicant needs next
 * (reasons of a rejection, the review track of an accepted permit). A submission the read
 * model has not seen yet is `undefined`, so the intake can fall back to its own receipt.
 */
import type pg from 'pg';
import type { SubmissionStatus, SubmissionStatusSource, TimelineEntry } from '../intake/status.ts';
import type { Finding, Reason, State } from '../../schemas/types.ts';
import { readTimeline } from './timeline.ts';

export interface ReadModelSubmissionStatus extends SubmissionStatus {
  sourceReference: string | null;
  batchId: string | null;
  /** Of the last `validated` record; empty before validation. */
  findings: Finding[];
  /** Of a rejection: what the applicant must fix. */
  reasons: Reason[];
  reviewTrack: string | null;
  computedFeeCents: number | null;
  /** Stages that gave up on the submission (operators replay these). */
  deadLetters: Array<{ stage: string; errorClass: string; at: number }>;
}

export interface ReadModelStatusSource extends SubmissionStatusSource {
  get(submissionId: string): Promise<ReadModelSubmissionStatus | undefined>;
}

export function createReadModelStatusSource(pool: pg.Pool): ReadModelStatusSource {
  return {
    async get(submissionId) {
      const t = await readTimeline(pool, submissionId);
      const states = t?.events.filter((e): e is typeof e & { state: State } => e.state !== 'dead_lettered') ?? [];
      const last = states[states.length - 1];
      if (!t || !last) return undefined;
      const detail = (state: State) => states.find((e) => e.state === state)?.detail ?? {};
      const accepted = detail('accepted');
      return {
        submissionId,
        status: last.state,
        receivedAt: t.receivedAt ?? states[0]!.at,
        timeline: states.map((e): TimelineEntry => ({ state: e.state, at: e.at })),
        sourceClient: t.sourceClient,
        sourceReference: t.sourceReference,
        batchId: t.batch?.batchId ?? null,
        findings: (detail('validated').findings as Finding[] | undefined) ?? [],
        reasons: (detail('rejected').reasons as Reason[] | undefined) ?? [],
        reviewTrack: (accepted.reviewTrack as string | undefined) ?? null,
        computedFeeCents: (accepted.computedFeeCents as number | null | undefined) ?? (detail('validated').computedFeeCents as number | null | undefined) ?? null,
        deadLetters: t.events.filter((e) => e.state === 'dead_lettered').map((e) => ({ stage: String(e.detail.stage), errorClass: String(e.detail.errorClass), at: e.at })),
      };
    },
  };
}
