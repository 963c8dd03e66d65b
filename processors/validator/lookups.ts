/**
 * A typed, tolerant reading of the enricher's lookups (`LookupResult.data` is JSON shaped per
 * lookup by connectors/lookups). Only the fields the rules use are read; anything else may
 * change freely. A lookup that is absent, has an unknown outcome or data of the wrong shape is
 * `unavailable`: the rules turn that into a finding for a reviewer instead of guessing.
 */
import { LRUCache } from 'lru-cache';
import { z } from 'zod';
import type { FeeQuote } from '../../domain/fee-schedule.ts';
import type { HistoryData, OverlaysData, Parcel, ZoningData } from '../../domain/lookups.ts';
import type { LookupResult } from '../../schemas/types.ts';

const str = z.string().nullable().optional().transform((v) => v ?? null);

const parcelData = z.object({ apn: z.string().min(1), landUse: str });
const zoningData = z.object({
  zoneCode: str,
  zoneName: str,
  otherDistricts: z.array(z.object({ zoneCode: str })).optional().transform((v) => v ?? []),
});
const overlaysData = z.object({
  flood: z.object({ zone: str, subtype: str, specialFloodHazardArea: z.boolean() }).nullable(),
  historicDistricts: z.array(z.object({ name: str })),
  environmental: z.array(z.object({ type: str, name: str, codeSection: str })),
});
const feeData = z.object({ scheduleVersion: z.string(), feeCents: z.number().int().nonnegative(), currency: z.string() });
const historyData = z.object({ permits: z.array(z.object({ permitNumber: str, permitType: str, status: str })) });

export type ParcelFacts = z.input<typeof parcelData>;
export type ZoningFacts = z.output<typeof zoningData>;
export type OverlayFacts = z.output<typeof overlaysData>;
export type FeeFacts = z.output<typeof feeData>;
export type HistoryFacts = z.output<typeof historyData>;

// The enricher's shapes must still satisfy what the validator reads: a change in
// connectors/lookups that breaks the rules stops compiling here.
type Satisfies<Reader, Shape extends Reader> = Shape;
export type _ParcelShape = Satisfies<ParcelFacts, Parcel>;
export type _ZoningShape = Satisfies<z.input<typeof zoningData>, ZoningData>;
export type _OverlaysShape = Satisfies<z.input<typeof overlaysData>, OverlaysData>;
export type _FeeShape = Satisfies<z.input<typeof feeData>, FeeQuote>;
export type _HistoryShape = Satisfies<z.input<typeof historyData>, HistoryData>;

export type LookupView<T> =
  | { status: 'found'; data: T; source: string }
  | { status: 'not_found'; reason: string | null; source: string }
  | { status: 'outside_jurisdiction'; source: string }
  | { status: 'unavailable'; problem: string };

export interface SiteLookups {
  parcel: LookupView<z.output<typeof parcelData>>;
  zoning: LookupView<ZoningFacts>;
  overlays: LookupView<OverlayFacts>;
  fees: LookupView<FeeFacts>;
  history: LookupView<HistoryFacts>;
}

/**
 * Views already read, per lookup and data text. Submissions on the same parcel carry the same
 * cached answers, and parsing and checking them again was a seventh of the validator's CPU. A
 * view depends only on the outcome, source and data, and the rules only read it, so one object
 * serves them all. Bounded: a few thousand distinct answers cover a busy day's parcels.
 */
const VIEWS_PER_LOOKUP = 2048;
const viewsRead = new Map<keyof SiteLookups, LRUCache<string, { outcome: string; source: string; view: LookupView<unknown> }>>();

function view<T>(results: LookupResult[], name: keyof SiteLookups, schema: z.ZodType<T, z.ZodTypeDef, unknown>): LookupView<T> {
  // The first answer counts: the enricher reports each lookup once.
  const result = results.find((r) => r.lookup === name);
  if (!result) return { status: 'unavailable', problem: `no ${name} lookup in the enriched record` };
  if (result.data === null) return readView(result, name, schema);
  let seen = viewsRead.get(name);
  if (!seen) viewsRead.set(name, (seen = new LRUCache({ max: VIEWS_PER_LOOKUP })));
  const known = seen.get(result.data);
  if (known && known.outcome === result.outcome && known.source === result.source) return known.view as LookupView<T>;
  const read = readView(result, name, schema);
  seen.set(result.data, { outcome: result.outcome, source: result.source, view: read });
  return read;
}

function readView<T>(result: LookupResult, name: keyof SiteLookups, schema: z.ZodType<T, z.ZodTypeDef, unknown>): LookupView<T> {
  let json: unknown = null;
  if (result.data !== null) {
    try {
      json = JSON.parse(result.data);
    } catch {
      return { status: 'unavailable', problem: `${name} lookup data is not JSON` };
    }
  }
  switch (result.outcome) {
    case 'found': {
      const parsed = schema.safeParse(json);
      if (!parsed.success) return { status: 'unavailable', problem: `${name} lookup data is not in the expected shape (${parsed.error.issues[0]?.path.join('.') ?? ''}: ${parsed.error.issues[0]?.message ?? ''})` };
      return { status: 'found', data: parsed.data, source: result.source };
    }
    case 'not_found': {
      const reason = json !== null && typeof json === 'object' && typeof (json as { reason?: unknown }).reason === 'string' ? (json as { reason: string }).reason : null;
      return { status: 'not_found', reason, source: result.source };
    }
    case 'outside_jurisdiction':
      return { status: 'outside_jurisdiction', source: result.source };
    default:
      return { status: 'unavailable', problem: `${name} lookup has an unknown outcome "${String(result.outcome)}"` };
  }
}

export function readLookups(results: LookupResult[]): SiteLookups {
  return {
    parcel: view(results, 'parcel', parcelData),
    zoning: view(results, 'zoning', zoningData),
    overlays: view(results, 'overlays', overlaysData),
    fees: view(results, 'fees', feeData),
    history: view(results, 'history', historyData),
  };
}
