/**
 * What the intake can say about a submission it accepted. The read model (PostgreSQL) knows
 * the whole timeline; the intake also remembers each accepted hash in Redis (with a TTL), so a
 * submission the read model has not caught up with yet, or a read model out of reach, still
 * answers "received".
 */
import type { Redis } from 'ioredis';
import type { State } from '../../schemas/types.ts';

export interface TimelineEntry {
  state: State;
  /** Epoch milliseconds. */
  at: number;
}

export interface SubmissionStatus {
  submissionId: string;
  status: State;
  receivedAt: number;
  timeline: TimelineEntry[];
}

export interface SubmissionStatusSource {
  get(submissionId: string): Promise<SubmissionStatus | undefined>;
}

/** The first source that knows the submission; one that fails is reported and passed over. */
export function firstKnownStatus(sources: readonly SubmissionStatusSource[], onError: (err: unknown) => void): SubmissionStatusSource {
  return {
    async get(submissionId) {
      for (const source of sources) {
        const status = await source.get(submissionId).catch((err: unknown) => {
          onError(err);
          return undefined;
        });
        if (status) return status;
      }
      return undefined;
    },
  };
}

/** Where the intake notes each accepted submission. */
export interface ReceiptLog {
  received(submissionId: string, receivedAt: number): Promise<void>;
}

export function redisReceipts(redis: Redis, options: { prefix: string; ttlMs: number }): SubmissionStatusSource & ReceiptLog {
  const keyOf = (id: string) => `${options.prefix}:${id}`;
  return {
    async received(submissionId, receivedAt) {
      // NX: the first receipt is the one the timeline starts with; a resubmission does not move it.
      await redis.set(keyOf(submissionId), String(receivedAt), 'PX', options.ttlMs, 'NX');
    },
    async get(submissionId) {
      const value = await redis.get(keyOf(submissionId));
      if (value === null) return undefined;
      const receivedAt = Number(value);
      return { submissionId, status: 'received', receivedAt, timeline: [{ state: 'received', at: receivedAt }] };
    },
  };
}
