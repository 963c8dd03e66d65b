/**
 * Inputs for the validator and decider unit tests: the Alder Creek sample application with the
 * lookups the enricher returns for it (typed with the connectors' own shapes, so a shape
 * change shows here), and the shipped rule sets.
 */
import { join } from 'node:path';
import type { FeeQuote, HistoryData, OverlaysData, Parcel, ZoningData } from '../../connectors/lookups/index.ts';
import { REPO_ROOT } from '../../lib/config.ts';
import { loadRuleSets } from '../../processors/validator/rule-set.ts';
import type { Attachment, LookupResult, PermitApplication } from '../../schemas/types.ts';
import { sampleApplications } from '../support/samples.ts';

export const ruleSets = loadRuleSets(join(REPO_ROOT, 'rules'));

/** Building addition, R-1, minimal flood hazard, fee paid exactly: no findings with a site plan and drawings. */
export function alderCreek(): PermitApplication {
  return structuredClone(sampleApplications()[0]!);
}

export function attachment(kind: string): Attachment {
  return { name: `${kind}.pdf`, kind, contentType: 'application/pdf', size: 1000, sha256: 'ab'.repeat(32), objectKey: `attachments/${'ab'.repeat(32)}` };
}

export const PARCEL: Parcel = {
  apn: '17-04-22-00-01400',
  address: '1842 NE ALDER CREEK RD',
  city: 'CEDAR FALLS',
  postalCode: '97402',
  acres: 0.23,
  landUseCode: '1010',
  landUse: 'Single-family residential',
  yearBuilt: 1978,
  assessedValue: 312450,
  centroid: { lat: 44.0681, lon: -123.0652 },
  matchedBy: 'apn',
  requestedApn: null,
};
export const ZONING: ZoningData = { zoneCode: 'R-1', zoneName: 'Low Density Residential', zoneClass: 'Residential', ordinance: 'Ord. 2012-07', locatedBy: 'parcel-centroid', otherDistricts: [] };
export const OVERLAYS: OverlaysData = {
  locatedBy: 'parcel-centroid',
  flood: { zone: 'X', subtype: 'AREA OF MINIMAL FLOOD HAZARD', specialFloodHazardArea: false, baseFloodElevationFt: null },
  historicDistricts: [],
  environmental: [],
};
export const FEES: FeeQuote = { scheduleVersion: '2026.11', effectiveFrom: '2026-11-01', permitType: 'Building', valuation: 86500, feeCents: 118425, currency: 'USD', tier: { from: 50000, to: 100000 } };
export const HISTORY: HistoryData = {
  apn: PARCEL.apn,
  openPermits: [],
  failedInspections: 0,
  permits: [
    {
      permitNumber: 'ROF2019-00655',
      permitType: 'Roofing',
      workClass: 'Alteration',
      status: 'Finaled',
      description: 'Re-roof',
      appliedDate: '2019-06-03T00:00:00.000',
      issuedDate: '2019-06-05T00:00:00.000',
      finaledDate: '2019-07-22T00:00:00.000',
      valuation: 14800,
    },
  ],
  inspections: [],
};

type Answer = { outcome: LookupResult['outcome']; data: unknown } | null;

/** LookupResults as the enricher emits them; `null` leaves a lookup out, a string is sent as raw data. */
export function lookups(overrides: Partial<Record<'parcel' | 'zoning' | 'overlays' | 'fees' | 'history', Answer>> = {}): LookupResult[] {
  const found = (data: unknown): Answer => ({ outcome: 'found', data });
  const answers: Record<string, Answer> = { parcel: found(PARCEL), zoning: found(ZONING), overlays: found(OVERLAYS), fees: found(FEES), history: found(HISTORY), ...overrides };
  return Object.entries(answers).flatMap(([lookup, answer]) =>
    answer === null
      ? []
      : [{ lookup, outcome: answer.outcome, source: `https://gis.example/${lookup}`, fetchedAt: 1, cacheHit: false, attempt: 1, data: answer.data === null ? null : typeof answer.data === 'string' ? answer.data : JSON.stringify(answer.data) }],
  );
}

export const notFound = (data: unknown = { reason: 'no match' }): Answer => ({ outcome: 'not_found', data });
export const outside: Answer = { outcome: 'outside_jurisdiction', data: null };
export const foundAs = (data: unknown): Answer => ({ outcome: 'found', data });
