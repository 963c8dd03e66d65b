/**
 * Attribute names of the jurisdiction's GIS layers and SODA datasets. Lookups read these and
 * hand the validator normalised, county-independent data; a jurisdiction whose layers name
 * things differently changes them here.
 */

/** Parcels layer (assessor's parcel fabric). Owner names are never requested: personal data. */
export const PARCEL_FIELDS = {
  apn: 'APN',
  address: 'SITUS_ADDRESS',
  city: 'SITUS_CITY',
  postalCode: 'SITUS_ZIP',
  acres: 'ACRES',
  landUseCode: 'LAND_USE_CODE',
  landUse: 'LAND_USE',
  yearBuilt: 'YEAR_BUILT',
  assessedValue: 'ASSESSED_VALUE',
} as const;

export const ZONING_FIELDS = { code: 'ZONE_CODE', name: 'ZONE_NAME', zoneClass: 'ZONE_CLASS', ordinance: 'ORDINANCE' } as const;

/** FEMA National Flood Hazard Layer (S_FLD_HAZ_AR) names. */
export const FLOOD_FIELDS = { zone: 'FLD_ZONE', subtype: 'ZONE_SUBTY', specialFloodHazardArea: 'SFHA_TF', baseFloodElevation: 'STATIC_BFE' } as const;

export const HISTORIC_FIELDS = { name: 'DISTRICT_NAME', nrhpReference: 'NRHP_REFNUM' } as const;

export const ENVIRONMENTAL_FIELDS = { type: 'OVERLAY_TYPE', name: 'NAME', codeSection: 'CODE_SECTION' } as const;

export const PERMIT_FIELDS = {
  permitNumber: 'permit_number',
  parcel: 'parcel_number',
  permitType: 'permit_type',
  workClass: 'work_class',
  status: 'status',
  description: 'description',
  appliedDate: 'applied_date',
  issuedDate: 'issued_date',
  finaledDate: 'finaled_date',
  valuation: 'valuation',
} as const;

export const INSPECTION_FIELDS = {
  inspectionId: 'inspection_id',
  permitNumber: 'permit_number',
  parcel: 'parcel_number',
  inspectionType: 'inspection_type',
  result: 'result',
  inspectionDate: 'inspection_date',
} as const;

/** Permit statuses that mean work is still open on the parcel. */
export const OPEN_PERMIT_STATUSES: ReadonlySet<string> = new Set(['Applied', 'In Review', 'Issued', 'Active']);
export const FAILED_INSPECTION_RESULTS: ReadonlySet<string> = new Set(['Fail', 'Failed', 'Not Approved']);
