/** What every check reads, and how it reports. Checks are pure functions of this context. */
import type { Attachment, Finding } from '../../../schemas/types.ts';
import type { ApplicationFacts } from '../application.ts';
import type { SiteLookups } from '../lookups.ts';
import type { RuleSet, Severity } from '../rule-set.ts';

/** The fee due under the schedule, or why it could not be determined. */
export type FeeDue = { cents: number; currency: string; scheduleVersion: string } | { missing: string };

export interface CheckContext {
  application: unknown;
  facts: ApplicationFacts;
  attachments: Attachment[];
  lookups: SiteLookups;
  ruleSet: RuleSet;
  fee: FeeDue;
}

export type Check = (ctx: CheckContext) => Finding[];

export function finding(ctx: CheckContext, code: string, severity: Severity, field: string | null, message: string): Finding {
  return { code, severity, field, message, ruleSetVersion: ctx.ruleSet.id };
}

/** One formatter per currency (the fee schedules name a handful): building one costs 20x formatting with it. */
const formatters = new Map<string, Intl.NumberFormat>();

/** Money as an applicant reads it: $1,184.25. */
export function money(cents: number, currency: string): string {
  let formatter = formatters.get(currency);
  if (!formatter) {
    formatter = new Intl.NumberFormat('en-US', { style: 'currency', currency });
    formatters.set(currency, formatter);
  }
  return formatter.format(cents / 100);
}
