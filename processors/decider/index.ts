/**
 * Decider: consumes `validated` and emits exactly one of `accepted` (fee due, review track,
 * non-blocking findings as warnings) or `rejected` (reasons the applicant can act on), by the
 * policy in policy.ts and the rule-set version the findings name, so a replay decides alike.
 *
 * Stateless, one output per input in the runtime's transaction. The application payload is
 * read (claim check) for the facts the accepted permit carries and the review track needs.
 */
import type { SubmissionAccepted, SubmissionRejected, SubmissionValidated } from '../../schemas/types.ts';
import type { Topology } from '../../topology/topics.ts';
import { declaredInputs } from '../runtime/contract.ts';
import { DECIDER } from './topology.ts';
import { submissionOf } from '../runtime/state-records.ts';
import type { Output, ProcessorDefinition } from '../runtime/types.ts';
import { applicationFacts, readApplication, type PayloadSource } from '../validator/application.ts';
import type { RuleSets } from '../validator/rule-set.ts';
import { decide } from './policy.ts';

export interface DeciderOptions {
  topology: Topology;
  workerId: string;
  ruleSets: RuleSets;
  payloads: PayloadSource;
  clock?: () => number;
}

const CONCURRENCY = 8;

export function createDecider(options: DeciderOptions): ProcessorDefinition<SubmissionValidated> {
  const { topology, workerId, ruleSets } = options;
  const clock = options.clock ?? Date.now;
  return {
    id: 'decider',
    inputs: declaredInputs(DECIDER, topology),
    concurrency: CONCURRENCY,
    async process(record, ctx): Promise<Output[]> {
      const validated = record.value;
      const hash = submissionOf(record);
      const facts = applicationFacts(await readApplication(options.payloads, validated.payload));
      const decision = decide(validated.findings, facts, ruleSets.byId(validated.ruleSetVersion));
      const header = { ...validated.header, at: clock(), workerId, attempt: 1, traceparent: ctx.traceparent };
      if (decision.outcome === 'rejected') {
        const rejected: SubmissionRejected = { header: { ...header, state: 'rejected' }, reasons: decision.reasons };
        return [{ topic: topology.topics.rejected, key: hash, value: rejected }];
      }
      const accepted: SubmissionAccepted = {
        header: { ...header, state: 'accepted' },
        jurisdiction: facts.jurisdiction ?? '',
        permitType: facts.permitType ?? '',
        parcelNumber: facts.parcelNumber,
        reviewTrack: decision.reviewTrack,
        computedFeeCents: validated.computedFeeCents,
        warnings: decision.warnings,
      };
      return [{ topic: topology.topics.accepted, key: hash, value: accepted }];
    },
  };
}
