/**
 * The processor contract. A processor is a small handler over decoded records that returns
 * output records; the runtime owns everything about delivery (transactions, offsets, DLQ,
 * retries, metrics, tracing, backpressure, shutdown). A processor never sees an offset commit.
 */
import type { Logger } from '../../lib/logger.ts';
import type { ProcessorId, TopicSpec, Topology } from '../../topology/topics.ts';
import type { KeyValueStore, StoreSpecs, StoreValue } from './stores.ts';

/** A decoded input record. */
export interface InputRecord<T = unknown> {
  topic: TopicSpec;
  partition: number;
  offset: string;
  /** Broker timestamp, epoch ms. */
  timestamp: number;
  key: string | null;
  value: T;
  headers: Record<string, string>;
}

/** An Avro record for a catalogued topic. Goes to the input partition unless `partition` says otherwise. */
export interface TopicOutput {
  topic: TopicSpec;
  key: string;
  value: unknown;
  partition?: number;
  headers?: Record<string, string>;
}

/**
 * Work the transaction carrying this record's outputs waits for before it commits: an object
 * those outputs point to (the claim-check order: the object exists before the record naming it
 * commits). The handler goes on meanwhile; a rejection fails the batch as a throw would.
 */
export interface CommitCondition {
  awaitBeforeCommit: Promise<unknown>;
}

/**
 * A record the processor writes, to one of its declared output topics. State is written through
 * `ctx.store(name)`: the runtime turns those writes into records of the store's changelog, in the
 * same transaction, so a processor never names a changelog.
 */
export type Output = TopicOutput;

/** What a handler or timer returns: records, and the conditions their transaction waits for. */
export type ProcessorOutput = Output | CommitCondition;

export const isCommitCondition = (o: object): o is CommitCondition => 'awaitBeforeCommit' in o;

/**
 * A commit condition on `work`. Its rejection is observed here, at once: the handler may still
 * throw (its outputs, this condition with them, then never reach the runtime), and an unobserved
 * rejection would end the process. The runtime awaits it, and so sees the rejection, when it commits.
 */
export function commitAfter(work: Promise<unknown>): CommitCondition {
  work.catch(() => undefined);
  return { awaitBeforeCommit: work };
}

/** A processor's declared stores, by name, typed by its definition's specs (stores.ts). */
export interface StoreAccess<S extends StoreSpecs = StoreSpecs> {
  /**
   * The partition's store `name`: get/put/delete; the runtime writes the changelog in the
   * transaction, restores it on assignment and applies the horizon. A store the processor did
   * not declare is refused (UndeclaredOutputError).
   */
  store<N extends keyof S & string>(name: N): KeyValueStore<StoreValue<S[N]>>;
}

/** `ctx.store` for a processor with stores; nothing for one without (its contexts need none). */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type -- no stores: no member
type StoresOf<S extends StoreSpecs> = [keyof S] extends [never] ? {} : StoreAccess<S>;

// eslint-disable-next-line @typescript-eslint/no-empty-object-type -- the stores of a processor that declares none
export type NoStores = {};

/** What a handler may use while processing one record. */
export type RecordContext<S extends StoreSpecs = NoStores> = RecordContextBase & StoresOf<S>;

interface RecordContextBase {
  processor: ProcessorId;
  workerId: string;
  logger: Logger;
  /** W3C traceparent for records emitted while handling this one (a child of the input's). */
  traceparent: string;
  /** Aborted when the runtime is shutting down: stop long work. */
  signal: AbortSignal;
  /** Pauses every input partition of the processor until `until` settles (backpressure). */
  pauseUntil(until: Promise<unknown>): void;
}

/** What a partition-level hook (restore on assignment, timers) may use. Stores are read-only in a restore. */
export type PartitionContext<S extends StoreSpecs = NoStores> = PartitionContextBase & StoresOf<S>;

interface PartitionContextBase {
  processor: ProcessorId;
  partition: number;
  workerId: string;
  logger: Logger;
  /** Aborted when the runtime stops, or when this restore is abandoned: apply nothing more then. */
  signal: AbortSignal;
  /** The next input offset to process per input topic, as committed by the last transaction. */
  committedOffsets: Map<string, bigint>;
  /** Reads a range of one partition of a topic (read_committed), for restoring state. */
  readPartition(topic: string, partition: number, from: bigint, onRecord: (record: RawRecord) => void, until?: bigint): Promise<void>;
  /** Re-reads an input of this partition from `from` up to the offset the last transaction committed (records already handled). */
  replayInput(topic: TopicSpec, from: bigint, onRecord: (record: RawRecord) => void): Promise<void>;
}

export interface RawRecord {
  offset: bigint;
  timestamp: number;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, string>;
}

export interface ProcessorDefinition<In = unknown, S extends StoreSpecs = NoStores> {
  id: ProcessorId;
  /** Input topics (from the catalogue). */
  inputs: TopicSpec[];
  /** Specs of the stores the declaration names (`ctx.store(name)`); the runtime restores them before `assign`. */
  stores?: S;
  /** Records handled concurrently within one fetched batch; 1 keeps strict order (stateful processors). */
  concurrency?: number;
  /** Restores the processor's state for newly assigned partitions, after zombies are fenced and its stores restored. */
  assign?(ctx: PartitionContext<S>): Promise<void>;
  /** Forgets a partition's state (revoked, or to be restored again after an aborted transaction). */
  revoke?(partition: number): void;
  /** Handles one record; throw PermitflowError.permanent to dead-letter it, retriable to retry the batch. */
  process(record: InputRecord<In>, ctx: RecordContext<S>): Promise<ProcessorOutput[]> | ProcessorOutput[];
  /** Releases the processor's own resources (connections, timers) when the runtime stops. */
  close?(): Promise<void>;
  /** Called every `intervalMs` for each assigned partition; its outputs are committed in a transaction. */
  punctuate?: { intervalMs: number; run(ctx: PartitionContext<S>, now: number): Promise<ProcessorOutput[]> | ProcessorOutput[] };
}

export interface RuntimeOptions {
  topology: Topology;
  logger: Logger;
  workerId: string;
  /** Kafka transactions (exactly once). Off only for the control run of the crash tests. */
  transactions: boolean;
  /** Partitions processed concurrently. */
  partitionsConcurrently: number;
  /** Upper bound of bytes fetched per partition per batch: bounds memory and in-flight work. */
  maxBytesPerPartition: number;
  /** Records per transaction, at most; a larger fetched batch is split. */
  maxRecordsPerTransaction: number;
  /** Consumer group session timeout. */
  sessionTimeoutMs: number;
  /**
   * Failed attempts of a record (or of the batch it starts) with an unclassified error before
   * it is isolated and dead-lettered; infrastructure errors never count.
   * @default 5 (DEFAULT_RECORD_ATTEMPTS in runner.ts)
   */
  recordAttempts?: number;
}
