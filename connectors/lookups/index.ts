/**
 * Lookup connectors of the enricher: see enrichment-lookups.ts for the contract.
 *
 * `LookupResult.data` is JSON: for `found`, the shapes below (fees: FeeQuote); for `not_found`
 * and `outside_jurisdiction`, a small object saying why (`reason`, `requestedApn`,
 * `searchedBy`) or null.
 */
export { createEnrichmentLookups, type EnrichmentLookups, type EnrichmentLookupsDeps, type LookupAllOptions } from './enrichment-lookups.ts';
export type { FeeQuote } from './fee-schedule.ts';
export type { HistoryData, PastInspection, PastPermit } from './history.ts';
export { LOOKUP_ERRORS } from './http/errors.ts';
export type { FloodZone, OverlaysData } from './overlays.ts';
export type { Parcel } from './parcel.ts';
export { LOOKUP_APIS, LOOKUP_NAMES, type BreakerEvent, type BreakerListener, type BreakerState, type LookupApi, type LookupName } from './types.ts';
export type { ZoningData, ZoningDistrict } from './zoning.ts';
