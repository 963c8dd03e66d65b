/**
 * Fee lookup: the fee schedule's quote for the permit type and valuation, under the version in
 * force at the time the caller gives (when the submission was received). The applicant's own
 * `appliedAt` does not choose it: backdating would buy older fees. Local and synchronous: no
 * API, so no rate limit, cache or breaker.
 */
import { pathToFileURL } from 'node:url';
import type { LookupResult, PermitApplication } from '../../schemas/types.ts';
import { quoteFee, type FeeSchedule } from '../../domain/fee-schedule.ts';
import type { ParcelAnswer } from './parcel.ts';

export function lookupFees(schedule: FeeSchedule, application: PermitApplication, parcel: ParcelAnswer, at: number): LookupResult {
  const base = { lookup: 'fees', fetchedAt: schedule.loadedAt, cacheHit: false, attempt: 1 };
  const source = pathToFileURL(schedule.path).href;
  if (parcel.outsideJurisdiction) return { ...base, outcome: 'outside_jurisdiction', source, data: null };
  const answer = quoteFee(schedule, application.permitType, application.project.estimatedCost, new Date(at).toISOString().slice(0, 10));
  if ('missing' in answer) {
    return { ...base, outcome: 'not_found', source: answer.scheduleVersion ? `${source}#${answer.scheduleVersion}` : source, data: JSON.stringify({ reason: answer.missing, permitType: application.permitType }) };
  }
  return { ...base, outcome: 'found', source: `${source}#${answer.quote.scheduleVersion}`, data: JSON.stringify(answer.quote) };
}
