/**
 * The processor contract's declaration: what one processor reads, writes and keeps, stated once,
 * next to its handler (`processors/<name>/topology.ts`). `topology/topics.ts` assembles the graph
 * from these declarations, so `topology describe`, lag, status, the intake's backpressure and the
 * runtime's checks (inputs, outputs, stores) all read the same source, like a Kafka Streams
 * processor's topology or a Benthos component's spec.
 *
 * This module holds no topic data, so declarations can import it without a cycle.
 */
import type { TopicId } from './topics.ts';

export interface ProcessorDeclaration<Id extends string = string, Store extends string = string> {
  id: Id;
  /** How the stage runs: on the exactly-once runtime, or as a sink committing elsewhere (PostgreSQL, the object store). */
  kind: 'processor' | 'sink';
  /** Input topics, in the order the runtime subscribes (retry topics after the main input). */
  inputs: readonly TopicId[];
  /** Every topic the stage may write, the DLQ included; the runtime refuses any other. */
  outputs: readonly TopicId[];
  /** State stores (changelog `<namespace>.<processor>.<store>.changelog`); the runtime refuses a write to any other. */
  stores: readonly Store[];
  /**
   * Retry topics, first to last: a record whose handler fails with a retriable error goes to the
   * next one (each delays by its configured `RETRY_DELAYS_MS` entry), and after the last to the DLQ.
   */
  retries: readonly TopicId[];
  description: string;
}

/** Identity function that keeps the declaration's literal types (id, topic ids, store names). */
export function declareProcessor<const D extends ProcessorDeclaration>(declaration: D): D {
  return declaration;
}
