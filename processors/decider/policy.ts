/**
 * The decision policy over a validated submission's findings. Pure.
 *
 * - Any ERROR finding rejects: the reasons are those findings (code, field, message), which
 *   the rule sets word as what the applicant must do; duplicates are listed once.
 * - Otherwise the submission is accepted, with the fee due and a review track: the first of
 *   the rule set's `decision.reviewTracks` that matches (all its conditions hold), else its
 *   default. WARNING and INFO findings travel as `warnings` (codes).
 */
import { PermitflowError } from '../../lib/errors.ts';
import type { Finding, Reason } from '../../schemas/types.ts';
import { applies, type ApplicationFacts } from '../validator/application.ts';
import type { ReviewTrack, RuleSet, TrackRule } from '../validator/rule-set.ts';

export type Decision = { outcome: 'rejected'; reasons: Reason[] } | { outcome: 'accepted'; reviewTrack: ReviewTrack; warnings: string[] };

export function rejectionReasons(findings: Finding[]): Reason[] {
  const seen = new Set<string>();
  const reasons: Reason[] = [];
  for (const f of findings) {
    if (f.severity !== 'ERROR') continue;
    const key = `${f.code}\u0000${f.field ?? ''}\u0000${f.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    reasons.push({ code: f.code, field: f.field, message: f.message });
  }
  return reasons;
}

function matches(rule: TrackRule, findings: Finding[], facts: ApplicationFacts): boolean {
  const valuation = facts.valuation;
  if (!applies(rule.when, facts)) return false;
  if (rule.anyFinding && !findings.some((f) => rule.anyFinding!.includes(f.code))) return false;
  if (rule.minValuation !== undefined && (valuation === null || valuation < rule.minValuation)) return false;
  if (rule.maxValuation !== undefined && (valuation === null || valuation > rule.maxValuation)) return false;
  if (rule.noWarnings && findings.some((f) => f.severity === 'WARNING')) return false;
  return true;
}

export function reviewTrack(ruleSet: RuleSet, findings: Finding[], facts: ApplicationFacts): ReviewTrack {
  return ruleSet.decision.reviewTracks.find((rule) => matches(rule, findings, facts))?.track ?? ruleSet.decision.defaultTrack;
}

/** `ruleSet` is the version the findings were made under; undefined when none applied. */
export function decide(findings: Finding[], facts: ApplicationFacts, ruleSet: RuleSet | undefined): Decision {
  const reasons = rejectionReasons(findings);
  if (reasons.length > 0) return { outcome: 'rejected', reasons };
  if (!ruleSet) {
    // Acceptance needs the rules the findings were made under: the rule file was removed or renamed.
    throw PermitflowError.permanent('PF_RULE_SET_UNKNOWN', 'no rule set for an application without blocking findings: restore the rule-set file and replay the dead letter');
  }
  return { outcome: 'accepted', reviewTrack: reviewTrack(ruleSet, findings, facts), warnings: [...new Set(findings.map((f) => f.code))] };
}
