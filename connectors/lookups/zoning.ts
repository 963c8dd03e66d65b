/**
 * Zoning lookup: the district(s) at the parcel's centroid, or at the site's coordinates when
 * no parcel was found. No location at all is `not_found`.
 */
import type { LookupResult, PermitApplication } from '../../schemas/types.ts';
import { queryFeatures } from './arcgis.ts';
import type { LookupContext } from './context.ts';
import { ZONING_FIELDS as F } from './fields.ts';
import { siteLocation, type ParcelAnswer } from './parcel.ts';
import { lookupResult } from './provenance.ts';
import type { LatLon, ZoningData, ZoningDistrict } from '../../domain/lookups.ts';

/** Where the point-based lookups (zoning, overlays) look, and why there. */
export function lookupLocation(application: PermitApplication, parcel: ParcelAnswer): { point: LatLon; locatedBy: 'parcel-centroid' | 'site-coordinates' } | null {
  if (parcel.parcel?.centroid) return { point: parcel.parcel.centroid, locatedBy: 'parcel-centroid' };
  const site = siteLocation(application);
  return site ? { point: site, locatedBy: 'site-coordinates' } : null;
}

const text = (value: unknown): string | null => (typeof value === 'string' && value !== '' ? value : null);


export async function lookupZoning(ctx: LookupContext, application: PermitApplication, parcel: ParcelAnswer, signal?: AbortSignal): Promise<LookupResult> {
  const layer = ctx.endpoints.zoning;
  if (parcel.outsideJurisdiction) return lookupResult('zoning', 'outside_jurisdiction', [], null, layer);
  const location = lookupLocation(application, parcel);
  if (!location) return lookupResult('zoning', 'not_found', [], { reason: 'no parcel and no site coordinates' }, layer);

  const answer = await queryFeatures(ctx.clients.zoning, layer, { point: location.point, outFields: Object.values(F) }, signal);
  const districts = answer.features.map((f): ZoningDistrict => ({
    zoneCode: text(f.attributes[F.code]),
    zoneName: text(f.attributes[F.name]),
    zoneClass: text(f.attributes[F.zoneClass]),
    ordinance: text(f.attributes[F.ordinance]),
  }));
  const [primary, ...others] = districts;
  if (!primary) return lookupResult('zoning', 'not_found', [answer], { locatedBy: location.locatedBy, reason: 'no zoning district at the location' }, layer);
  const data: ZoningData = { ...primary, locatedBy: location.locatedBy, otherDistricts: others };
  return lookupResult('zoning', 'found', [answer], data, layer);
}
