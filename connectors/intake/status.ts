/**
 * What the intake can say about a submission it accepted. The read model (PostgreSQL) knows
 * the whole timeline; the intake also remembers each accepted hash in Redis (with a TTL), so a
 * submission the read model has not caught up with yet, or a read model out of reach, still
 * answers "received".
 *
 * A submission is shown only to the clients that submitted it (the read model's `source_client`,
 * or a receipt noted for the client) and to clerks (`read:any`); anyone else gets the 404 of an
 * unknown id, so ids cannot be probed.
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
  /** The client that submitted it first, when the source knows (the read model does). */
  sourceClient?: string | null;
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

/** Where the intake notes each accepted submission, and which clients submitted it. */
export interface ReceiptLog {
  received(submissionId: string, receivedAt: number, client: string): Promise<void>;
  /** Whether `client` submitted `submissionId` (as long as receipts are kept). */
  submittedBy(submissionId: string, client: string): Promise<boolean>;
}

export function redisReceipts(redis: Redis, options: { prefix: string; ttlMs: number }): SubmissionStatusSource & ReceiptLog {
  const keyOf = (id: string) => `${options.prefix}:${id}`;
  // One key per submitting client: the same content sent by two clients is one submission both may read.
  const clientKeyOf = (id: string, client: string) => `${options.prefix}:${id}:by:${client}`;
  return {
    async received(submissionId, receivedAt, client) {
      await Promise.all([
        // NX: the first receipt is the one the timeline starts with; a resubmission does not move it.
        redis.set(keyOf(submissionId), String(receivedAt), 'PX', options.ttlMs, 'NX'),
        redis.set(clientKeyOf(submissionId, client), '1', 'PX', options.ttlMs),
      ]);
    },
    async submittedBy(submissionId, client) {
      return (await redis.exists(clientKeyOf(submissionId, client))) === 1;
    },
    async get(submissionId) {
      const value = await redis.get(keyOf(submissionId));
      if (value === null) return undefined;
      const receivedAt = Number(value);
      return { submissionId, status: 'received', receivedAt, timeline: [{ state: 'received', at: receivedAt }] };
    },
  };
}
