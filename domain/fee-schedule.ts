/**
 * The jurisdiction's permit fee schedule: a YAML file of dated versions, each a valuation table
 * per permit type in the usual building-code form ("$842.00 for the first $50,000 plus $9.25
 * for each additional $1,000 or fraction thereof"). The version in force on the application
 * date applies. Money is computed in cents.
 */
import { readFile } from 'node:fs/promises';
import { parse } from 'yaml';
import { z } from 'zod';
import { PermitflowError } from '../lib/errors.ts';

const dollars = z.number().nonnegative().multipleOf(0.01);

const tier = z
  .object({
    /** Top of the tier (inclusive); absent on the last tier. */
    upTo: z.number().positive().optional(),
    /** Fee at the bottom of the tier. */
    base: dollars,
    /** Added for each `per` dollars (or fraction) of valuation above the previous tier's top. */
    rate: dollars.optional(),
    per: z.number().positive().optional(),
  })
  .strict()
  .refine((t) => (t.rate === undefined) === (t.per === undefined), { message: 'rate and per go together' });

const version = z
  .object({
    version: z.string().min(1),
    effectiveFrom: z.string().regex(/^\d{4}-\d{2}-\d{2}$/, { message: 'expected YYYY-MM-DD' }),
    adoptedBy: z.string().optional(),
    permitTypes: z.record(
      z
        .array(tier)
        .min(1)
        .refine((tiers) => tiers.every((t, i) => (i === tiers.length - 1 ? t.upTo === undefined : t.upTo !== undefined && (i === 0 || t.upTo > tiers[i - 1]!.upTo!))), {
          message: 'tiers must rise, and only the last is open-ended',
        }),
    ),
  })
  .strict();

const scheduleFile = z
  .object({
    jurisdiction: z.string().min(1),
    currency: z.string().length(3),
    versions: z.array(version).min(1),
  })
  .strict();

export type FeeScheduleFile = z.infer<typeof scheduleFile>;

export interface FeeSchedule extends FeeScheduleFile {
  path: string;
  loadedAt: number;
}

export interface FeeQuote {
  scheduleVersion: string;
  effectiveFrom: string;
  permitType: string;
  valuation: number;
  feeCents: number;
  currency: string;
  /** The valuation tier applied, in dollars; `to` is null on the open-ended tier. */
  tier: { from: number; to: number | null };
}

export type FeeAnswer = { quote: FeeQuote } | { missing: 'no-version-in-force' | 'permit-type-not-in-schedule'; scheduleVersion: string | null };

export async function loadFeeSchedule(path: string): Promise<FeeSchedule> {
  let raw: unknown;
  try {
    raw = parse(await readFile(path, 'utf8'));
  } catch (err) {
    throw PermitflowError.permanent('PF_FEE_SCHEDULE_UNREADABLE', `fee schedule ${path} cannot be read: ${(err as Error).message}`, { cause: err });
  }
  const parsed = scheduleFile.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw PermitflowError.permanent('PF_FEE_SCHEDULE_INVALID', `fee schedule ${path} is invalid: ${problems}`);
  }
  return { ...parsed.data, path, loadedAt: Date.now() };
}

const toCents = (amount: number): number => Math.round(amount * 100);

/** The fee for a permit type and valuation under the version in force on `date` (YYYY-MM-DD). */
export function quoteFee(schedule: FeeSchedule, permitType: string, valuation: number, date: string): FeeAnswer {
  const inForce = schedule.versions.filter((v) => v.effectiveFrom <= date).sort((a, b) => b.effectiveFrom.localeCompare(a.effectiveFrom))[0];
  if (!inForce) return { missing: 'no-version-in-force', scheduleVersion: null };
  const tiers = inForce.permitTypes[permitType];
  if (!tiers) return { missing: 'permit-type-not-in-schedule', scheduleVersion: inForce.version };

  let from = 0;
  for (const t of tiers) {
    if (t.upTo === undefined || valuation <= t.upTo) {
      const units = t.per === undefined ? 0 : Math.ceil(Math.max(0, valuation - from) / t.per);
      const feeCents = toCents(t.base) + units * toCents(t.rate ?? 0);
      return {
        quote: { scheduleVersion: inForce.version, effectiveFrom: inForce.effectiveFrom, permitType, valuation, feeCents, currency: schedule.currency, tier: { from, to: t.upTo ?? null } },
      };
    }
    from = t.upTo;
  }
  // Unreachable: the schema makes the last tier open-ended.
  throw new RangeError(`fee schedule ${schedule.path} has no tier for ${valuation}`);
}
