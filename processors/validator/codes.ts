/**
 * Stable finding codes. Applicants, notifications and analysts key on them, so a code is never
 * renamed or reused; a new rule gets a new code. Overlay rules name their own codes in the
 * rule-set files (e.g. FLOOD_ZONE_ELEVATION_CERTIFICATE).
 */
export const CODES = {
  REQUIRED_FIELD_MISSING: 'REQUIRED_FIELD_MISSING',
  ATTACHMENT_REQUIRED: 'ATTACHMENT_REQUIRED',
  VALUE_OUT_OF_RANGE: 'VALUE_OUT_OF_RANGE',
  PERMIT_TYPE_NOT_ISSUED: 'PERMIT_TYPE_NOT_ISSUED',
  JURISDICTION_UNSUPPORTED: 'JURISDICTION_UNSUPPORTED',
  OUTSIDE_JURISDICTION: 'OUTSIDE_JURISDICTION',
  PARCEL_NOT_FOUND: 'PARCEL_NOT_FOUND',
  ZONING_USE_NOT_PERMITTED: 'ZONING_USE_NOT_PERMITTED',
  ZONING_DISTRICT_UNKNOWN: 'ZONING_DISTRICT_UNKNOWN',
  ZONING_NOT_FOUND: 'ZONING_NOT_FOUND',
  ACTIVE_PERMIT_EXISTS: 'ACTIVE_PERMIT_EXISTS',
  FEE_UNDERPAID: 'FEE_UNDERPAID',
  FEE_OVERPAID: 'FEE_OVERPAID',
  FEE_NOT_DETERMINED: 'FEE_NOT_DETERMINED',
  PAYMENT_CURRENCY_MISMATCH: 'PAYMENT_CURRENCY_MISMATCH',
  LOOKUP_UNAVAILABLE: 'LOOKUP_UNAVAILABLE',
  /** A required field of a PDF application read with too little confidence (domain/extraction.ts). */
  EXTRACTION_NEEDS_REVIEW: 'EXTRACTION_NEEDS_REVIEW',
} as const;

/** ruleSetVersion of findings made when no rule set applies (unknown jurisdiction). */
export const NO_RULE_SET = 'none';
