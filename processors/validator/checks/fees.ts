/**
 * Fee check: the fee due under the fee schedule against the amount paid, in cents. Underpaying
 * blocks (the applicant pays the difference); overpaying is noted for a refund.
 */
import { CODES } from '../codes.ts';
import { finding, money, type Check } from './context.ts';

export const feePaid: Check = (ctx) => {
  const { fee, facts } = ctx;
  if ('missing' in fee) {
    return [finding(ctx, CODES.FEE_NOT_DETERMINED, 'WARNING', '/payment', `The fee could not be determined from the fee schedule (${fee.missing}): the county sends an invoice once a reviewer has set it.`)];
  }
  if (facts.currency !== null && facts.currency !== fee.currency) {
    return [finding(ctx, CODES.PAYMENT_CURRENCY_MISMATCH, 'ERROR', '/payment/currency', `Fees are payable in ${fee.currency}, not ${facts.currency}: pay ${money(fee.cents, fee.currency)}.`)];
  }
  const paid = facts.paidCents ?? 0;
  const due = money(fee.cents, fee.currency);
  const schedule = `fee schedule ${fee.scheduleVersion}`;
  const { toleranceCents, overpaidSeverity } = ctx.ruleSet.fees;
  if (fee.cents - paid > toleranceCents) {
    const message =
      facts.paidCents === null
        ? `No payment came with the application: pay the permit fee of ${due} (${schedule}).`
        : `The permit fee is ${due} (${schedule}) but ${money(paid, fee.currency)} was paid: pay the remaining ${money(fee.cents - paid, fee.currency)}.`;
    return [finding(ctx, CODES.FEE_UNDERPAID, 'ERROR', '/payment/amountPaid', message)];
  }
  if (paid - fee.cents > toleranceCents && overpaidSeverity !== 'NONE') {
    return [
      finding(ctx, CODES.FEE_OVERPAID, overpaidSeverity, '/payment/amountPaid', `${money(paid, fee.currency)} was paid for a permit fee of ${due} (${schedule}): the county refunds the ${money(paid - fee.cents, fee.currency)} difference.`),
    ];
  }
  return [];
};
