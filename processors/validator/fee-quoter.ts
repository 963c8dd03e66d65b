/**
 * The fee schedule behind an interface, for submissions whose enriched record carries no fee
 * quote (the enricher quotes from the same file, LOOKUPS_FEE_SCHEDULE_PATH). Loaded once at
 * start-up: an unreadable schedule stops the validator with its problem, rather than letting it
 * invent a fee.
 */
import { loadFeeSchedule, quoteFee, type FeeAnswer, type FeeSchedule } from '../../domain/fee-schedule.ts';

export interface FeeQuoter {
  /** The fee for a permit type and valuation under the version in force on `date` (YYYY-MM-DD). */
  quote(permitType: string, valuation: number, date: string): Promise<FeeAnswer>;
}

export const scheduleFeeQuoter = (schedule: FeeSchedule): FeeQuoter => ({
  quote: (permitType, valuation, date) => Promise.resolve(quoteFee(schedule, permitType, valuation, date)),
});

export const loadFeeQuoter = async (path: string): Promise<FeeQuoter> => scheduleFeeQuoter(await loadFeeSchedule(path));
