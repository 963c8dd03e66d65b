/**
 * Form checks: the permit type is one the jurisdiction issues, required fields are filled in,
 * numbers lie in their ranges, and the required documents are attached.
 */
import type { Finding } from '../../../schemas/types.ts';
import { applies, isPresent, numberAt, valueAt } from '../application.ts';
import { CODES } from '../codes.ts';
import { finding, type Check } from './context.ts';

/** Fields every rule depends on; the intake's JSON Schema requires them, agencies may not. */
const BASE_FIELDS: Array<{ field: string; message: string }> = [
  { field: '/permitType', message: 'Choose the permit type (Building, Electrical, Demolition, ...).' },
  { field: '/permitClass', message: 'Say whether the work is Residential or Non-Residential (permitClass).' },
  { field: '/workClass', message: 'Say what kind of work this is: New, Addition, Alteration, Repair, Demolition or Other (workClass).' },
  { field: '/project/estimatedCost', message: 'Give the project valuation in US dollars (project.estimatedCost).' },
];

export const permitTypeIssued: Check = (ctx) => {
  const type = ctx.facts.permitType;
  if (type === null || ctx.ruleSet.permitTypes.includes(type)) return [];
  return [finding(ctx, CODES.PERMIT_TYPE_NOT_ISSUED, 'ERROR', '/permitType', `The county does not issue "${type}" permits: choose one of ${ctx.ruleSet.permitTypes.join(', ')}.`)];
};

export const requiredFields: Check = (ctx) => {
  const findings: Finding[] = [];
  for (const base of BASE_FIELDS) {
    if (!isPresent(valueAt(ctx.application, base.field))) findings.push(finding(ctx, CODES.REQUIRED_FIELD_MISSING, 'ERROR', base.field, base.message));
  }
  for (const rule of ctx.ruleSet.requiredFields) {
    if (!applies(rule.when, ctx.facts)) continue;
    const fields = rule.field !== undefined ? [rule.field] : (rule.anyOf ?? []);
    if (fields.some((f) => isPresent(valueAt(ctx.application, f)))) continue;
    findings.push(finding(ctx, CODES.REQUIRED_FIELD_MISSING, 'ERROR', fields[0]!, rule.message ?? `Fill in ${fields.join(' or ')}.`));
  }
  return findings;
};

export const valueRanges: Check = (ctx) => {
  const findings: Finding[] = [];
  for (const rule of ctx.ruleSet.valueRanges) {
    if (!applies(rule.when, ctx.facts)) continue;
    // Absent values are the required-field rules' business.
    const value = numberAt(ctx.application, rule.field);
    if (value === undefined) continue;
    const outside = Number.isNaN(value) || (rule.min !== undefined && value < rule.min) || (rule.max !== undefined && value > rule.max);
    if (!outside) continue;
    const range = `${rule.min ?? '-∞'} to ${rule.max ?? '∞'}`;
    const given = Number.isNaN(value) ? `"${String(valueAt(ctx.application, rule.field))}" is not a number` : `given ${value}`;
    findings.push(finding(ctx, CODES.VALUE_OUT_OF_RANGE, 'ERROR', rule.field, `${rule.message ?? `${rule.field} must be between ${range}.`} (${given})`));
  }
  return findings;
};

export const requiredAttachments: Check = (ctx) => {
  const kinds = new Set(ctx.attachments.map((a) => a.kind));
  return ctx.ruleSet.requiredAttachments
    .filter((rule) => applies(rule.when, ctx.facts) && !kinds.has(rule.kind))
    .map((rule) => finding(ctx, CODES.ATTACHMENT_REQUIRED, 'ERROR', '/attachments', `${rule.message} (attachment kind: ${rule.kind})`));
};
