/**
 * Shapes shared by the lookup connectors and the enricher that calls them.
 */
import type { LookupResult } from '../../schemas/types.ts';

/** The lookups of one submission, in the order the enricher reports them. */
export const LOOKUP_NAMES = ['parcel', 'zoning', 'overlays', 'fees', 'history'] as const;
export type LookupName = (typeof LOOKUP_NAMES)[number];

/**
 * The remote APIs, each with its own rate limit, cache namespace and circuit breaker.
 * Fees come from a local file and have none of these.
 */
export const LOOKUP_APIS = ['parcels', 'zoning', 'overlays', 'history'] as const;
export type LookupApi = (typeof LOOKUP_APIS)[number];

export type Outcome = LookupResult['outcome'];

/** A point in WGS84 degrees. */
export interface LatLon {
  lat: number;
  lon: number;
}

export type BreakerState = 'closed' | 'open' | 'halfOpen';

export interface BreakerEvent {
  api: LookupApi;
  state: BreakerState;
  at: number;
}

export type BreakerListener = (event: BreakerEvent) => void;
