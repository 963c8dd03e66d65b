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

/** Where a dead letter's original came from: a Kafka record, or a line of a file (topic = file name, partition -1, offset = line). */
export interface DeadLetterOrigin {
  topic: string;
  partition: number;
  offset: number;
  timestamp: number;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, string>;
}

/** Who gave up on a record. */
export interface DeadLetterStage {
  stage: string;
  consumerGroup: string;
  workerId: string;
  batchId?: string | null;
}

/** Why: the code, the message and the chain (outermost first), with the retry history if any. */
export interface DeadLetterFailure {
  errorClass: string;
  errorMessage: string;
  errorChain: string[];
  history?: RetryHistory;
}

/**
 * The one dead-letter builder, for the runtime's records (deadLetter below) and the importer's
 * bad rows alike: the original bytes when they fit under MAX_ORIGINAL_BYTES, else a pointer to
 * where they stay.
 */
export function buildDeadLetter(by: DeadLetterStage, origin: DeadLetterOrigin, failure: DeadLetterFailure, now = Date.now()): DeadLetter {
  const { key, value, headers } = origin;
  const history = failure.history ?? {};
  const keptValue = value !== null && value.length > MAX_ORIGINAL_BYTES ? null : value;
  const leftOut = keptValue === value ? [] : [`original value of ${value!.length} bytes left out of the letter (over ${MAX_ORIGINAL_BYTES}): read it at ${origin.topic}/${origin.partition}@${origin.offset}`];
  return {
    submissionHash: key && key.length <= 1024 ? key.toString('utf8') : null,
    batchId: by.batchId ?? null,
    stage: by.stage,
    consumerGroup: by.consumerGroup,
    errorClass: failure.errorClass,
    errorMessage: failure.errorMessage,
    errorChain: [...failure.errorChain, ...(history.priorErrors ?? []), ...leftOut],
    attempt: history.attempt ?? 1,
    firstFailureAt: history.firstFailureAt ?? now,
    lastFailureAt: now,
    originalTopic: origin.topic,
    originalPartition: origin.partition,
    originalOffset: origin.offset,
    originalTimestamp: origin.timestamp,
    originalKey: key && key.length > MAX_ORIGINAL_BYTES ? null : key,
    originalValue: keptValue,
    originalHeaders: headers,
    traceId: traceIdOf(headers.traceparent),
    workerId: by.workerId,
    // A replay that failed again is parked, so replays never loop.
    parked: REPLAY_OF_HEADER in headers,
  };
}

/** The dead letter of a Kafka record a stage gives up on, from the error it failed with. */
export function deadLetter(source: DeadLetterSource, err: unknown, now = Date.now()): DeadLetter {
  const { message } = source;
  return buildDeadLetter(
    source,
    {
      topic: source.topic,
      partition: source.partition,
      offset: Number(message.offset),
      timestamp: Number(message.timestamp),
      key: message.key ?? null,
      value: message.value ?? null,
      headers: stringHeaders(message.headers),
    },
    {
      errorClass: err instanceof PermitflowError ? err.code : err instanceof Error ? err.name : 'UNKNOWN',
      errorMessage: err instanceof Error ? err.message : String(err),
      errorChain: errorChain(err),
      history: err instanceof PermitflowError ? err.context : {},
    },
    now,
  );
}
