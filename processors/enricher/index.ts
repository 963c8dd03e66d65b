/**
 * Enricher: consumes `chunked` (and its own retry topics), reads each submission's payload
 * (inline, or from the object store when it was claim-checked), runs the parcel, zoning,
 * overlay, fee and history lookups, and emits `enriched` with every result and its provenance.
 *
 * Failures are sorted, never dropped:
 * - an answer such as "parcel not found" is a lookup outcome (a finding for the validator);
 * - an open circuit breaker pauses every input partition until the breaker closes again,
 *   without spending a retry (the batch is retried when input resumes);
 * - a transient failure that outlasted the in-process retries is thrown as RetryLater: the
 *   runtime writes the record to the next declared `retry.enrich.<n>`, which this stage consumes
 *   again when its delay has passed (the runtime holds a retry partition until its head is due,
 *   without blocking any other partition); after the last retry topic, the DLQ with the whole
 *   error chain, attempt count and first failure time (processors/runtime/retry.ts);
 * - an unreadable payload, or a lookup that can never succeed, goes to the DLQ.
 */
import type { EnrichmentLookups } from '../../domain/ports.ts';
import { PermitflowError } from '../../lib/errors.ts';
import type { PermitApplication, SubmissionChunked, SubmissionEnriched } from '../../schemas/types.ts';
import type { Topology } from '../../topology/topics.ts';
import { declaredInputs } from '../runtime/contract.ts';
import { ENRICHER } from './topology.ts';
import { attemptOf, RetryLater } from '../runtime/retry.ts';
import { submissionOf } from '../runtime/state-records.ts';
import type { Output, ProcessorDefinition } from '../runtime/types.ts';
import type { PayloadSource } from '../validator/application.ts';

export interface EnricherOptions {
  topology: Topology;
  lookups: Pick<EnrichmentLookups, 'lookupAll' | 'breakerStates' | 'onBreakerChange' | 'close'>;
  payloads: PayloadSource;
  workerId: string;
  /** Submissions enriched at once within a fetched batch. */
  concurrency: number;
}

async function readApplication(options: EnricherOptions, chunked: SubmissionChunked): Promise<PermitApplication> {
  const bytes = await options.payloads.load(chunked.payload);
  let application: unknown;
  try {
    application = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw PermitflowError.permanent('PF_PAYLOAD_UNREADABLE', 'payload is not JSON', { cause: err });
  }
  if (typeof application !== 'object' || application === null || typeof (application as { site?: unknown }).site !== 'object') {
    throw PermitflowError.permanent('PF_PAYLOAD_UNREADABLE', 'payload is not a permit application (no site)');
  }
  return application as PermitApplication;
}

export function createEnricher(options: EnricherOptions): ProcessorDefinition<SubmissionChunked> {
  const { topology, lookups, workerId } = options;

  /** Resolves once every breaker is closed again (after a good half-open probe). */
  function breakersClosed(): Promise<void> {
    return new Promise((resolve) => {
      const allClosed = () => Object.values(lookups.breakerStates()).every((s) => s === 'closed');
      if (allClosed()) return resolve();
      const unsubscribe = lookups.onBreakerChange(() => {
        if (allClosed()) {
          unsubscribe();
          resolve();
        }
      });
    });
  }

  return {
    id: 'enricher',
    inputs: declaredInputs(ENRICHER, topology),
    concurrency: options.concurrency,
    close: () => lookups.close(),

    async process(record, ctx): Promise<Output[]> {
      const chunked = record.value;
      const hash = submissionOf(record);
      // chunked is the first attempt; retry.enrich.<n> holds attempt n + 1.
      const attempt = attemptOf(record);
      const application = await readApplication(options, chunked);

      try {
        // The fee schedule in force when the submission was received, not on the applicant's appliedAt.
        const results = await lookups.lookupAll(application, { signal: ctx.signal, at: chunked.receivedAt });
        const enriched: SubmissionEnriched = {
          header: { ...chunked.header, state: 'enriched', at: Date.now(), workerId, attempt, traceparent: ctx.traceparent },
          payload: chunked.payload,
          attachments: chunked.attachments,
          lookups: results,
        };
        return [{ topic: topology.topics.enriched, key: hash, value: enriched }];
      } catch (err) {
        if (!(err instanceof PermitflowError) || !err.retriable) throw err;
        if (err.code === 'PF_BREAKER_OPEN') {
          ctx.pauseUntil(breakersClosed());
          throw err;
        }
        // A transient failure that outlasted the in-process retries: the runtime routes the record
        // through the declared retry topics (processors/enricher/topology.ts), then to the DLQ.
        throw new RetryLater(err, { exhaustedCode: 'PF_LOOKUP_EXHAUSTED', what: 'lookups' });
      }
    },
  };
}
