/**
 * The fee schedule behind an interface, for submissions whose enriched record carries no fee
 * quote. The schedule file is the enricher's (LOOKUPS_FEE_SCHEDULE_PATH), read on first use; a
 * schedule that cannot be read fails the record permanently (dead letter, replayable once
 * fixed) rather than inventing a fee.
 */
import { loadFeeSchedule, quoteFee, type FeeAnswer, type FeeSchedule } from '../../connectors/lookups/fee-schedule.ts';

export interface FeeQuoter {
  /** The fee for a permit type and valuation under the version in force on `date` (YYYY-MM-DD). */
  quote(permitType: string, valuation: number, date: string): Promise<FeeAnswer>;
}

export function scheduleFeeQuoter(path: string): FeeQuoter {
  let schedule: Promise<FeeSchedule> | undefined;
  return {
    async quote(permitType, valuation, date) {
      schedule ??= loadFeeSchedule(path);
      try {
        return quoteFee(await schedule, permitType, valuation, date);
      } catch (err) {
        // Read the file again next time: it may have been fixed.
        schedule = undefined;
        throw err;
      }
    },
  };
}
