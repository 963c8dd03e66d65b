/**
 * Validation of one application against the rule set in force when it was received: the form,
 * the site (from the lookups) and the fee. The applicant's own `appliedAt` is data, never the
 * key: a backdated application would otherwise buy an older rule set and older fees. Pure apart from the injected fee quoter, which is only asked
 * when the enriched record carries no fee quote.
 */
import type { Attachment, Finding, LookupResult } from '../../schemas/types.ts';
import { applicationFacts, type ApplicationFacts } from './application.ts';
import { activePermits, jurisdictionAndParcel, outsideJurisdiction, overlayRules, zoningUse } from './checks/site.ts';
import { extractionReview } from './checks/extraction.ts';
import { feePaid } from './checks/fees.ts';
import { permitTypeIssued, requiredAttachments, requiredFields, valueRanges } from './checks/fields.ts';
import type { Check, CheckContext, FeeDue } from './checks/context.ts';
import { CODES, NO_RULE_SET } from './codes.ts';
import type { FeeQuoter } from './fee-quoter.ts';
import { readLookups, type SiteLookups } from './lookups.ts';
import type { RuleSet, RuleSets } from './rule-set.ts';

export interface ValidationInput {
  application: Record<string, unknown>;
  attachments: Attachment[];
  lookups: LookupResult[];
  /**
   * Epoch ms the submission was received (the intake's receipt, carried in every state header;
   * else the record's time): it alone picks the rule set and fee schedule, and a replay judges alike.
   */
  receivedAt: number;
}

export interface Validation {
  ruleSetVersion: string;
  findings: Finding[];
  computedFeeCents: number | null;
  paidFeeCents: number | null;
}

export interface ValidationDeps {
  ruleSets: RuleSets;
  fees: FeeQuoter;
}

/** In order: form, site, fee. The order is the order findings are reported in. */
const CHECKS: Check[] = [permitTypeIssued, requiredFields, valueRanges, requiredAttachments, jurisdictionAndParcel, zoningUse, overlayRules, activePermits, extractionReview];

/** The date rules and fees are chosen by: the day (UTC) the submission was received. */
export const judgedOn = (receivedAt: number): string => new Date(receivedAt).toISOString().slice(0, 10);

async function feeDue(lookups: SiteLookups, facts: ApplicationFacts, date: string, fees: FeeQuoter): Promise<FeeDue> {
  const lookup = lookups.fees;
  if (lookup.status === 'found') return { cents: lookup.data.feeCents, currency: lookup.data.currency, scheduleVersion: lookup.data.scheduleVersion };
  if (lookup.status === 'not_found') return { missing: lookup.reason ?? 'not in the fee schedule' };
  if (lookup.status === 'outside_jurisdiction') return { missing: 'the site is outside the jurisdiction' };
  if (facts.permitType === null || facts.valuation === null) return { missing: 'no permit type or valuation' };
  const answer = await fees.quote(facts.permitType, facts.valuation, date);
  return 'quote' in answer ? { cents: answer.quote.feeCents, currency: answer.quote.currency, scheduleVersion: answer.quote.scheduleVersion } : { missing: answer.missing };
}

/** Findings when no rule set applies: the applicant filed with a jurisdiction we do not serve. */
function withoutRuleSet(facts: ApplicationFacts): Finding[] {
  const finding = (code: string, field: string, message: string): Finding => ({ code, severity: 'ERROR', field, message, ruleSetVersion: NO_RULE_SET });
  if (facts.jurisdiction === null) return [finding(CODES.REQUIRED_FIELD_MISSING, '/jurisdiction', 'Say which city or county the application is filed with (jurisdiction).')];
  return [finding(CODES.JURISDICTION_UNSUPPORTED, '/jurisdiction', `Applications for "${facts.jurisdiction}" are not processed here: file with that jurisdiction directly.`)];
}

export function evaluate(ctx: CheckContext): Finding[] {
  const findings = CHECKS.flatMap((check) => check(ctx));
  // Outside the jurisdiction no fee is due here.
  return outsideJurisdiction(ctx) ? findings : [...findings, ...feePaid(ctx)];
}

export async function validate(input: ValidationInput, deps: ValidationDeps): Promise<Validation> {
  const facts = applicationFacts(input.application);
  const date = judgedOn(input.receivedAt);
  const ruleSet: RuleSet | undefined = facts.jurisdiction === null ? undefined : deps.ruleSets.inForce(facts.jurisdiction, date);
  if (!ruleSet) return { ruleSetVersion: NO_RULE_SET, findings: withoutRuleSet(facts), computedFeeCents: null, paidFeeCents: facts.paidCents };

  const lookups = readLookups(input.lookups);
  const fee = await feeDue(lookups, facts, date, deps.fees);
  const findings = evaluate({ application: input.application, facts, attachments: input.attachments, lookups, ruleSet, fee });
  return { ruleSetVersion: ruleSet.id, findings, computedFeeCents: 'cents' in fee ? fee.cents : null, paidFeeCents: facts.paidCents };
}
