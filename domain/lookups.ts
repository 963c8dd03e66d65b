/**
 * The lookups' vocabulary and the shapes of their answers (`LookupResult.data` when found),
 * shared by the lookup connectors that produce them and the processors that read them.
 */
import type { LookupResult } from '../schemas/types.ts';

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

/** `data` of a found parcel lookup (plus `candidates`, how many features matched). */
export interface Parcel {
  apn: string;
  address: string | null;
  city: string | null;
  postalCode: string | null;
  acres: number | null;
  landUseCode: string | null;
  landUse: string | null;
  yearBuilt: number | null;
  assessedValue: number | null;
  centroid: LatLon | null;
  matchedBy: 'apn' | 'address' | 'point';
  /** The APN the application gave, when it differs from the parcel found (or none was found). */
  requestedApn: string | null;
}

export interface ZoningDistrict {
  zoneCode: string | null;
  zoneName: string | null;
  zoneClass: string | null;
  ordinance: string | null;
}

/** `data` of a found zoning lookup. */
export interface ZoningData extends ZoningDistrict {
  locatedBy: 'parcel-centroid' | 'site-coordinates';
  /** Further districts at the location (a split-zoned parcel). */
  otherDistricts: ZoningDistrict[];
}

export interface FloodZone {
  zone: string | null;
  subtype: string | null;
  /** In a special flood hazard area (the 1% annual chance floodplain). */
  specialFloodHazardArea: boolean;
  baseFloodElevationFt: number | null;
}

/** `data` of a found overlays lookup. */
export interface OverlaysData {
  locatedBy: 'parcel-centroid' | 'site-coordinates';
  /** The special flood hazard zone at the location if any, else the mapped zone, else null. */
  flood: FloodZone | null;
  historicDistricts: Array<{ name: string | null; nrhpReference: string | null }>;
  environmental: Array<{ type: string | null; name: string | null; codeSection: string | null }>;
}

export interface PastPermit {
  permitNumber: string | null;
  permitType: string | null;
  workClass: string | null;
  status: string | null;
  description: string | null;
  appliedDate: string | null;
  issuedDate: string | null;
  finaledDate: string | null;
  valuation: number | null;
}

export interface PastInspection {
  inspectionId: string | null;
  permitNumber: string | null;
  inspectionType: string | null;
  result: string | null;
  inspectionDate: string | null;
}

/** `data` of a found history lookup; dates are SODA floating timestamps, newest first. */
export interface HistoryData {
  apn: string;
  /** Permit numbers still open (applied, in review, issued, active). */
  openPermits: Array<string | null>;
  failedInspections: number;
  permits: PastPermit[];
  inspections: PastInspection[];
}
