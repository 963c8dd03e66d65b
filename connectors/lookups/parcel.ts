/**
 * Parcel lookup: by APN, else by situs address, else by the site's coordinates. When nothing
 * matches and the site has coordinates, the jurisdiction boundary layer tells `not_found`
 * (a parcel we do not know, inside the jurisdiction) from `outside_jurisdiction`.
 */
import type { LookupResult, PermitApplication } from '../../schemas/types.ts';
import { countFeatures, queryFeatures, sqlString, type ArcgisFeature, type FeatureAnswer } from './arcgis.ts';
import type { LookupContext } from './context.ts';
import { PARCEL_FIELDS as F } from './fields.ts';
import { lookupResult, type AnswerProvenance } from './provenance.ts';
import type { LatLon, Parcel } from '../../domain/lookups.ts';


export interface ParcelAnswer {
  result: LookupResult;
  parcel: Parcel | null;
  outsideJurisdiction: boolean;
}

export function siteLocation(application: PermitApplication): LatLon | null {
  const { latitude, longitude } = application.site;
  return typeof latitude === 'number' && typeof longitude === 'number' ? { lat: latitude, lon: longitude } : null;
}

/** Situs addresses as assessors store them: upper case, single spaces, no punctuation. */
export function normaliseAddress(line: string): string {
  return line.toUpperCase().replace(/[.,#]/g, ' ').replace(/\s+/g, ' ').trim();
}

const text = (value: unknown): string | null => (typeof value === 'string' && value.trim() !== '' ? value.trim() : null);
const number = (value: unknown): number | null => (typeof value === 'number' && Number.isFinite(value) ? value : null);

function toParcel(feature: ArcgisFeature, matchedBy: Parcel['matchedBy'], requestedApn: string | null): Parcel {
  const a = feature.attributes;
  const apn = text(a[F.apn]) ?? '';
  return {
    apn,
    address: text(a[F.address]),
    city: text(a[F.city]),
    postalCode: text(a[F.postalCode]),
    acres: number(a[F.acres]),
    landUseCode: text(a[F.landUseCode]),
    landUse: text(a[F.landUse]),
    yearBuilt: number(a[F.yearBuilt]),
    assessedValue: number(a[F.assessedValue]),
    centroid: feature.centroid ? { lat: feature.centroid.y, lon: feature.centroid.x } : null,
    matchedBy,
    requestedApn: requestedApn !== null && requestedApn !== apn ? requestedApn : null,
  };
}

export async function lookupParcel(ctx: LookupContext, application: PermitApplication, signal?: AbortSignal): Promise<ParcelAnswer> {
  const client = ctx.clients.parcels;
  const layer = ctx.endpoints.parcels;
  const answers: AnswerProvenance[] = [];
  const outFields = Object.values(F);
  const requestedApn = text(application.site.parcelNumber);
  const location = siteLocation(application);

  if (application.jurisdiction !== ctx.jurisdiction) {
    return { result: lookupResult('parcel', 'outside_jurisdiction', [], { filedWith: application.jurisdiction, served: ctx.jurisdiction }, layer), parcel: null, outsideJurisdiction: true };
  }

  const attempts: Array<{ matchedBy: Parcel['matchedBy']; query: () => Promise<FeatureAnswer> }> = [];
  if (requestedApn) attempts.push({ matchedBy: 'apn', query: () => queryFeatures(client, layer, { where: `${F.apn} = ${sqlString(requestedApn)}`, outFields, returnCentroid: true }, signal) });
  const { line1, postalCode } = application.site.address;
  if (line1.trim()) {
    const where = `UPPER(${F.address}) = ${sqlString(normaliseAddress(line1))} AND ${F.postalCode} = ${sqlString(postalCode.slice(0, 5))}`;
    attempts.push({ matchedBy: 'address', query: () => queryFeatures(client, layer, { where, outFields, returnCentroid: true }, signal) });
  }
  if (location) attempts.push({ matchedBy: 'point', query: () => queryFeatures(client, layer, { point: location, outFields, returnCentroid: true }, signal) });

  for (const attempt of attempts) {
    const answer = await attempt.query();
    answers.push(answer);
    const feature = answer.features[0];
    if (feature) {
      const parcel = toParcel(feature, attempt.matchedBy, requestedApn);
      return { result: lookupResult('parcel', 'found', answers, { ...parcel, candidates: answer.features.length }, layer), parcel, outsideJurisdiction: false };
    }
  }

  if (location) {
    const inside = await countFeatures(client, ctx.endpoints.boundary, { point: location }, signal);
    answers.push(inside);
    if (inside.count === 0) {
      return { result: lookupResult('parcel', 'outside_jurisdiction', answers, { requestedApn, location }, layer), parcel: null, outsideJurisdiction: true };
    }
  }
  return { result: lookupResult('parcel', 'not_found', answers, { requestedApn, searchedBy: attempts.map((a) => a.matchedBy) }, layer), parcel: null, outsideJurisdiction: false };
}
