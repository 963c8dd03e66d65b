/**
 * Overlay lookup: flood hazard, historic district and environmental overlays at the parcel's
 * centroid (or the site's coordinates), three layers queried concurrently. An empty overlay is
 * an answer too: `found` means the location was checked against every layer.
 */
import type { LookupResult, PermitApplication } from '../../schemas/types.ts';
import { queryFeatures } from './arcgis.ts';
import type { LookupContext } from './context.ts';
import { ENVIRONMENTAL_FIELDS, FLOOD_FIELDS, HISTORIC_FIELDS } from './fields.ts';
import type { ParcelAnswer } from './parcel.ts';
import type { FloodZone, OverlaysData } from '../../domain/lookups.ts';
import { lookupResult } from './provenance.ts';
import { lookupLocation } from './zoning.ts';

const text = (value: unknown): string | null => (typeof value === 'string' && value !== '' ? value : null);


export async function lookupOverlays(ctx: LookupContext, application: PermitApplication, parcel: ParcelAnswer, signal?: AbortSignal): Promise<LookupResult> {
  const { flood, historic, environmental } = ctx.endpoints;
  const source = [flood, historic, environmental].join(' ');
  if (parcel.outsideJurisdiction) return lookupResult('overlays', 'outside_jurisdiction', [], null, source);
  const location = lookupLocation(application, parcel);
  if (!location) return lookupResult('overlays', 'not_found', [], { reason: 'no parcel and no site coordinates' }, source);

  const client = ctx.clients.overlays;
  const at = { point: location.point };
  const [floodAnswer, historicAnswer, environmentalAnswer] = await Promise.all([
    queryFeatures(client, flood, { ...at, outFields: Object.values(FLOOD_FIELDS) }, signal),
    queryFeatures(client, historic, { ...at, outFields: Object.values(HISTORIC_FIELDS) }, signal),
    queryFeatures(client, environmental, { ...at, outFields: Object.values(ENVIRONMENTAL_FIELDS) }, signal),
  ]);

  const floodZones = floodAnswer.features.map(({ attributes: a }): FloodZone => {
    const bfe = a[FLOOD_FIELDS.baseFloodElevation];
    return {
      zone: text(a[FLOOD_FIELDS.zone]),
      subtype: text(a[FLOOD_FIELDS.subtype]),
      specialFloodHazardArea: a[FLOOD_FIELDS.specialFloodHazardArea] === 'T',
      // NFHL writes -9999 where no base flood elevation applies.
      baseFloodElevationFt: typeof bfe === 'number' && bfe > -9999 ? bfe : null,
    };
  });
  const data: OverlaysData = {
    locatedBy: location.locatedBy,
    flood: floodZones.find((z) => z.specialFloodHazardArea) ?? floodZones[0] ?? null,
    historicDistricts: historicAnswer.features.map(({ attributes: a }) => ({ name: text(a[HISTORIC_FIELDS.name]), nrhpReference: text(a[HISTORIC_FIELDS.nrhpReference]) })),
    environmental: environmentalAnswer.features.map(({ attributes: a }) => ({
      type: text(a[ENVIRONMENTAL_FIELDS.type]),
      name: text(a[ENVIRONMENTAL_FIELDS.name]),
      codeSection: text(a[ENVIRONMENTAL_FIELDS.codeSection]),
    })),
  };
  return lookupResult('overlays', 'found', [floodAnswer, historicAnswer, environmentalAnswer], data, source);
}
