/**
 * Retry topics, owned by the runtime (issue 12). A processor declares its retry topics in
 * `processors/<name>/topology.ts`; its handler only classifies a failure: `throw new
 * RetryLater(err)` when the record should be tried again after a delay (a lookup that outlasted
 * its in-process retries). The runtime then writes the record, unchanged but for its attempt, to
 * the next retry topic with its retry history in headers, in the same transaction as the input
 * offset; after the last retry topic it dead-letters it with that history. A processor that
 * declares no retry topics has its batch retried instead, like any retriable error.
 */
import { errorChain, PermitflowError, type ErrorCode } from '../../lib/errors.ts';
import type { RetryHistory } from '../../lib/dead-letter.ts';
import { PROCESSORS, type ProcessorId, type TopicSpec, type Topology } from '../../topology/topics.ts';
import { runtimeMetrics } from './metrics.ts';
import type { InputRecord, ProcessorOutput, RecordContext } from './types.ts';

/** Kafka headers carrying a record's retry history across the retry topics. */
export const RETRY_HEADERS = { firstFailureAt: 'permitflow-first-failure-at', errors: 'permitflow-errors' } as const;

/** Prior errors a record carries at most (outermost first). */
const MAX_CARRIED_ERRORS = 20;

export interface RetryLaterOptions {
  /** Code of the dead letter once the last retry topic failed too (default PF_RETRIES_EXHAUSTED). */
  exhaustedCode?: ErrorCode;
  /** What keeps failing, for the letter's message (default "the handler"). */
  what?: string;
}

/** A failure the handler wants retried later through its processor's retry topics. Retriable, so without retry topics the batch is retried. */
export class RetryLater extends PermitflowError {
  constructor(
    cause: PermitflowError,
    readonly options: RetryLaterOptions = {},
  ) {
    super(cause.code, cause.message, true, { cause, context: cause.context });
  }
}

/** The attempt a record is on: its input is the main topic (1) or the n-th retry topic (n + 1). */
export const attemptOf = (record: Pick<InputRecord, 'topic'>): number => (record.topic.def.retry ?? 0) + 1;

export function retryHistory(headers: Record<string, string>, attempt: number): RetryHistory {
  const errors = headers[RETRY_HEADERS.errors];
  let priorErrors: string[] = [];
  try {
    priorErrors = errors ? (JSON.parse(errors) as string[]) : [];
  } catch {
    priorErrors = [`unreadable ${RETRY_HEADERS.errors} header`];
  }
  const firstFailureAt = headers[RETRY_HEADERS.firstFailureAt] ? Number(headers[RETRY_HEADERS.firstFailureAt]) : undefined;
  return { attempt, priorErrors, ...(firstFailureAt !== undefined && Number.isFinite(firstFailureAt) && { firstFailureAt }) };
}

/**
 * Runs a processor's handler and routes a RetryLater to the next declared retry topic, or past
 * the last one to the DLQ (a permanent PF_RETRIES_EXHAUSTED carrying the retry history, which the
 * dead-letter builder puts on the letter).
 */
export function retryRouter(processor: ProcessorId, topology: Topology) {
  const retryTopics: TopicSpec[] = PROCESSORS[processor].retries.map((id) => topology.topics[id]);
  return async <O>(record: InputRecord, ctx: RecordContext, handle: () => Promise<O[]> | O[]): Promise<(O | ProcessorOutput)[]> => {
    try {
      return await handle();
    } catch (err) {
      if (!(err instanceof RetryLater)) throw err;
      const cause = err.cause as PermitflowError;
      if (retryTopics.length === 0) throw cause;
      const attempt = attemptOf(record);
      const past = retryHistory(record.headers, attempt);
      const next = retryTopics[attempt - 1];
      if (!next || record.key === null) {
        throw PermitflowError.permanent(err.options.exhaustedCode ?? 'PF_RETRIES_EXHAUSTED', `${err.options.what ?? 'the handler'} still failing after ${attempt} attempts`, {
          cause,
          context: { attempt, firstFailureAt: past.firstFailureAt ?? Date.now(), priorErrors: past.priorErrors ?? [] } satisfies RetryHistory,
        });
      }
      const errors = [...errorChain(cause), ...(past.priorErrors ?? [])].slice(0, MAX_CARRIED_ERRORS);
      ctx.logger.warn({ attempt, retryTopic: next.name, errorClass: cause.code }, 'handler failed: scheduled for retry');
      runtimeMetrics.retries.inc({ processor, error_class: cause.code });
      const value = record.value as { header?: Record<string, unknown> };
      return [
        {
          topic: next,
          key: record.key,
          // The record as it came, on its next attempt (state records carry it in their header).
          value: value.header ? { ...value, header: { ...value.header, attempt: attempt + 1 } } : value,
          headers: { [RETRY_HEADERS.firstFailureAt]: String(past.firstFailureAt ?? Date.now()), [RETRY_HEADERS.errors]: JSON.stringify(errors) },
        },
      ];
    }
  };
}
