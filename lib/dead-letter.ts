/**
 * Builds the dead letter for a record a stage gives up on: the cause, the provenance and the
 * original bytes, so an operator can inspect it and replay it.
 */
import type { KafkaMessage } from 'kafkajs';
import { errorChain, PermitflowError } from './errors.ts';
import type { DeadLetter } from '../schemas/types.ts';
import { traceIdOf } from './observability/tracing.ts';
import { stringHeaders } from './kafka.ts';

/** Header `permitflow dlq replay` puts on a replayed record: `<dlq partition>:<dlq offset>` of its dead letter. */
export const REPLAY_OF_HEADER = 'permitflow-replay-of';
/** Header `permitflow dlq replay` puts on a replayed record: when it was replayed (ISO 8601). */
export const REPLAYED_AT_HEADER = 'permitflow-replayed-at';

export interface DeadLetterSource {
  stage: string;
  consumerGroup: string;
  topic: string;
  partition: number;
  message: KafkaMessage;
  workerId: string;
  /** The batch of the record, when it decoded and names one (state records from chunked on). */
  batchId?: string | null;
}

/**
 * Retry history a stage can attach to a permanent error's context, so the dead letter tells
 * the whole story: `attempt`, `firstFailureAt` (epoch ms) and `priorErrors` (outermost first).
 */
export interface RetryHistory {
  attempt?: number;
  firstFailureAt?: number;
  priorErrors?: string[];
}

/**
 * Largest original value a dead letter carries. The letter must itself fit under the broker's
 * max message size (1 MB by default) with its error texts, or the stage would fail to commit it
 * and stall on the record it wanted to set aside; a bigger original stays on its topic (the
 * letter names topic, partition and offset) and the chain says it was left out.
 */
export const MAX_ORIGINAL_BYTES = 768 * 1024;

export function deadLetter(source: DeadLetterSource, err: unknown, now = Date.now()): DeadLetter {
  const history: RetryHistory = err instanceof PermitflowError ? (err.context) : {};
  const headers = stringHeaders(source.message.headers);
  const key = source.message.key ?? null;
  const value = source.message.value ?? null;
  const keptValue = value !== null && value.length > MAX_ORIGINAL_BYTES ? null : value;
  const leftOut = keptValue === value ? [] : [`original value of ${value!.length} bytes left out of the letter (over ${MAX_ORIGINAL_BYTES}): read it at ${source.topic}/${source.partition}@${source.message.offset}`];
  return {
    submissionHash: key && key.length <= 1024 ? key.toString('utf8') : null,
    batchId: source.batchId ?? null,
    stage: source.stage,
    consumerGroup: source.consumerGroup,
    errorClass: err instanceof PermitflowError ? err.code : err instanceof Error ? err.name : 'UNKNOWN',
    errorMessage: err instanceof Error ? err.message : String(err),
    errorChain: [...errorChain(err), ...(history.priorErrors ?? []), ...leftOut],
    attempt: history.attempt ?? 1,
    firstFailureAt: history.firstFailureAt ?? now,
    lastFailureAt: now,
    originalTopic: source.topic,
    originalPartition: source.partition,
    originalOffset: Number(source.message.offset),
    originalTimestamp: Number(source.message.timestamp),
    originalKey: key && key.length > MAX_ORIGINAL_BYTES ? null : key,
    originalValue: keptValue,
    originalHeaders: headers,
    traceId: traceIdOf(headers.traceparent),
    workerId: source.workerId,
    // A replay that failed again is parked, so replays never loop.
    parked: REPLAY_OF_HEADER in headers,
  };
}
