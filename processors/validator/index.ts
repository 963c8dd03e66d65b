/**
 * Validator: consumes `enriched`, checks each application against its jurisdiction's rule set
 * (the version in force on the application date) and emits `validated` with its findings
 * (code, severity, field, message, rule-set version), the fee due and the amount paid.
 *
 * Stateless: every input record gives exactly one output record, in the runtime's
 * transaction, so each submission is validated once per enriched record. Business problems
 * are findings, never errors; only a payload that is not a JSON object (or a fee schedule that
 * cannot be read) fails the record, which the runtime then dead-letters.
 */
import type { SubmissionEnriched, SubmissionValidated } from '../../schemas/types.ts';
import type { Topology } from '../../topology/topics.ts';
import { declaredInputs } from '../runtime/contract.ts';
import { VALIDATOR } from './topology.ts';
import { submissionOf } from '../runtime/state-records.ts';
import type { ProcessorDefinition } from '../runtime/types.ts';
import { readApplication, type PayloadSource } from './application.ts';
import type { FeeQuoter } from './fee-quoter.ts';
import type { RuleSets } from './rule-set.ts';
import { validate } from './validate.ts';

export interface ValidatorOptions {
  topology: Topology;
  workerId: string;
  ruleSets: RuleSets;
  fees: FeeQuoter;
  payloads: PayloadSource;
  clock?: () => number;
}

/** Records validated at once per partition: claim-checked payloads are fetched concurrently. */
const CONCURRENCY = 8;

export function createValidator(options: ValidatorOptions): ProcessorDefinition<SubmissionEnriched> {
  const { topology, workerId } = options;
  const clock = options.clock ?? Date.now;
  return {
    id: 'validator',
    inputs: declaredInputs(VALIDATOR, topology),
    concurrency: CONCURRENCY,
    async process(record, ctx) {
      const enriched = record.value;
      const hash = submissionOf(record);
      const application = await readApplication(options.payloads, enriched.payload);
      // The intake's receipt time picks the rule set, not the applicant's appliedAt (backdating).
      const receivedAt = enriched.header.receivedAt ?? enriched.header.at;
      const result = await validate({ application, attachments: enriched.attachments, lookups: enriched.lookups, receivedAt }, options);
      const validated: SubmissionValidated = {
        header: { ...enriched.header, state: 'validated', at: clock(), workerId, attempt: 1, traceparent: ctx.traceparent },
        payload: enriched.payload,
        ...result,
      };
      return [{ topic: topology.topics.validated, key: hash, value: validated }];
    },
  };
}
