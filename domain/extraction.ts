/**
 * Extraction of applications from PDFs, as the extraction stage sees it: the port it reads PDFs
 * through (connectors/pdf implements it) and the report that travels with the application it
 * produces, so the validator, `trace` and a clerk can tell how each field was read.
 */
import type { PermitApplication } from '../schemas/types.ts';

export interface FieldExtraction {
  /** Application field, dotted path. */
  field: string;
  /** Read from an AcroForm field, or by OCR of its region on a rasterised page. */
  source: 'form' | 'ocr';
  /** 1-based page it was read on. */
  page: number;
  /** 0-1: 1 for a form field, Tesseract's mean word confidence for OCR, ink contrast for a check box. */
  confidence: number;
}

export interface Extraction {
  /** The form mapping that read it. */
  form: string;
  method: 'form' | 'ocr';
  pages: number;
  /** Pages rasterised and read by OCR. */
  ocrPages: number[];
  fields: FieldExtraction[];
  /** Required fields read with less confidence than the threshold: a person checks them. */
  needsReview: FieldExtraction[];
}

/** The application as the extraction stage writes it: the mapped application and how it was read. */
export type ExtractedApplication = PermitApplication & { extraction: Extraction & { document: { sha256: string; size: number } } };

/** Reads a PDF into an application; throws PermitflowError.permanent with the cause when it cannot. */
export interface ApplicationReader {
  extract(pdf: Uint8Array): Promise<{ application: PermitApplication; extraction: Extraction }>;
}

/** Media type of an application sent as a PDF. */
export const PDF_MEDIA_TYPE = 'application/pdf';

/** The validator's finding for a required field read with too little confidence: a review track, not a rejection. */
export const EXTRACTION_NEEDS_REVIEW = 'EXTRACTION_NEEDS_REVIEW';
