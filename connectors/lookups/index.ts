/**
 * Lookup connectors of the enricher: see enrichment-lookups.ts for the contract.
 *
 * `LookupResult.data` is JSON: for `found`, the shapes of domain/lookups.ts (fees: FeeQuote); for `not_found`
 * and `outside_jurisdiction`, a small object saying why (`reason`, `requestedApn`,
 * `searchedBy`) or null.
 */
export { createEnrichmentLookups, type EnrichmentLookups, type EnrichmentLookupsDeps, type LookupAllOptions } from './enrichment-lookups.ts';
export type { FeeQuote } from '../../domain/fee-schedule.ts';
export {
  LOOKUP_APIS,
  LOOKUP_NAMES,
  type BreakerEvent,
  type BreakerListener,
  type BreakerState,
  type FloodZone,
  type HistoryData,
  type LookupApi,
  type LookupName,
  type OverlaysData,
  type Parcel,
  type PastInspection,
  type PastPermit,
  type ZoningData,
  type ZoningDistrict,
} from '../../domain/lookups.ts';
export { LOOKUP_ERRORS } from './http/errors.ts';
