/**
 * Reads the columns of a form mapping out of one PDF: AcroForm fields when the PDF has the
 * form's fields, else OCR of the regions on a rasterised page. Every value carries its source,
 * page and confidence (1 for a form field, Tesseract's mean word confidence for OCR, the ink
 * contrast for a check box). Runs in the extraction worker (worker.ts); I/O is a scratch folder.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PDFCheckBox, PDFDropdown, PDFOptionList, PDFRadioGroup, PDFTextField, type PDFDocument } from 'pdf-lib';
import { openPdf, PdfRefused, type PdfLimits } from './inspect.ts';
import { deskew, rasterise, readImage, readWords, ToolFailed, type GreyImage, type OcrWord, type ToolLimits } from './ocr.ts';

/** What the worker needs of a form mapping (plain data: it crosses a thread boundary). */
export interface FormShape {
  name: string;
  title: string[];
  columns: Array<[string, { page: number; region: [number, number, number, number]; checkbox: boolean }]>;
}

export interface ReadCell {
  value: string | null;
  source: 'form' | 'ocr';
  page: number;
  confidence: number;
}

export interface PdfReading {
  form: string;
  method: 'form' | 'ocr';
  pages: number;
  /** Pages rasterised and read by OCR. */
  ocrPages: number[];
  cells: Record<string, ReadCell>;
}

export interface ReadLimits extends PdfLimits {
  dpi: number;
  tool: ToolLimits;
}

/** The value a form field holds, as the mapping reads it: a ticked box reads as its own name. */
function fieldValue(doc: PDFDocument, name: string): string | null | undefined {
  const field = doc.getForm().getFieldMaybe(name);
  if (!field) return undefined;
  if (field instanceof PDFTextField) return field.getText() ?? null;
  if (field instanceof PDFCheckBox) return field.isChecked() ? name : null;
  if (field instanceof PDFDropdown || field instanceof PDFOptionList) return field.getSelected()[0] ?? null;
  if (field instanceof PDFRadioGroup) return field.getSelected() ?? null;
  return null;
}

function pageOfField(doc: PDFDocument, name: string): number {
  const widget = doc.getForm().getFieldMaybe(name)?.acroField.getWidgets()[0];
  const index = widget ? doc.getPages().findIndex((p) => p.ref === widget.P()) : -1;
  return index + 1 || 1;
}

function readForm(doc: PDFDocument, form: FormShape): Record<string, ReadCell> | null {
  const cells: Record<string, ReadCell> = {};
  let filled = 0;
  for (const [column, where] of form.columns) {
    const value = fieldValue(doc, column);
    // The form's own field names are its fingerprint: another form's PDF lacks some of them.
    if (value === undefined) return null;
    if (value !== null && value.trim() !== '') filled++;
    cells[column] = { value, source: 'form', page: pageOfField(doc, column) || where.page, confidence: 1 };
  }
  // An unfilled copy of the form with the paper version scanned onto it is not a filled form.
  return filled > 0 ? cells : null;
}

/** Words whose centre lies in the region (padded a little for skew and scanner drift). */
function wordsIn(words: OcrWord[], image: GreyImage, region: [number, number, number, number]): OcrWord[] {
  const [l, t, w, h] = region;
  const padX = 0.004 * image.width;
  const padY = 0.002 * image.height;
  const x0 = l * image.width - padX;
  const x1 = (l + w) * image.width + padX;
  const y0 = t * image.height - padY;
  const y1 = (t + h) * image.height + padY;
  return words
    .filter((word) => {
      const cx = word.left + word.width / 2;
      const cy = word.top + word.height / 2;
      return cx >= x0 && cx <= x1 && cy >= y0 && cy <= y1;
    })
    .sort((a, b) => a.left - b.left);
}

/** Share of dark pixels in the inner part of a box (its border excluded). */
function inkIn(image: GreyImage, region: [number, number, number, number]): number {
  const [l, t, w, h] = region;
  const x0 = Math.round((l + w * 0.25) * image.width);
  const x1 = Math.round((l + w * 0.75) * image.width);
  const y0 = Math.round((t + h * 0.25) * image.height);
  const y1 = Math.round((t + h * 0.75) * image.height);
  let dark = 0;
  let all = 0;
  for (let y = Math.max(0, y0); y < Math.min(image.height, y1); y++) {
    for (let x = Math.max(0, x0); x < Math.min(image.width, x1); x++) {
      all++;
      if (image.pixels[y * image.width + x]! < 128) dark++;
    }
  }
  return all === 0 ? 0 : dark / all;
}

/** A box counts as ticked above this much ink; confidence grows with the distance from it. */
const TICK_INK = 0.18;

function ocrCells(form: FormShape, page: number, image: GreyImage, words: OcrWord[]): Record<string, ReadCell> {
  const cells: Record<string, ReadCell> = {};
  for (const [column, where] of form.columns) {
    if (where.page !== page) continue;
    if (where.checkbox) {
      const ink = inkIn(image, where.region);
      cells[column] = { value: ink > TICK_INK ? column : null, source: 'ocr', page, confidence: Math.min(1, Math.abs(ink - TICK_INK) / TICK_INK) };
      continue;
    }
    const found = wordsIn(words, image, where.region);
    const value = found.map((w) => w.text).join(' ').trim();
    // An empty region read with certainty is an empty field; an unreadable one has no confidence.
    const confidence = found.length === 0 ? 1 : found.reduce((sum, w) => sum + w.confidence, 0) / found.length / 100;
    cells[column] = { value: value === '' ? null : value, source: 'ocr', page, confidence };
  }
  return cells;
}

async function readScan(doc: PDFDocument, bytes: Uint8Array, forms: FormShape[], limits: ReadLimits): Promise<PdfReading> {
  const dir = await mkdtemp(join(tmpdir(), 'permitflow-extract-'));
  try {
    const pdfPath = join(dir, 'in.pdf');
    await writeFile(pdfPath, bytes);
    const pageWords = new Map<number, { image: GreyImage; words: OcrWord[] }>();
    const readPage = async (page: number) => {
      const known = pageWords.get(page);
      if (known) return known;
      const raster = await rasterise(pdfPath, page, limits.dpi, join(dir, `p${page}`), limits.tool);
      const straight = join(dir, `p${page}-straight.pgm`);
      const { width, height } = await readImage(raster);
      await deskew(raster, straight, { width, height }, limits.tool);
      const read = { image: await readImage(straight), words: await readWords(straight, limits.tool) };
      pageWords.set(page, read);
      return read;
    };
    const first = await readPage(1);
    const text = new Set(first.words.map((w) => w.text.toLowerCase().replace(/[^a-z0-9]/g, '')));
    const form = forms.find((f) => f.title.every((word) => text.has(word)));
    if (!form) throw new PdfRefused('PF_PDF_NO_FORM', `no form mapping recognises this PDF (page 1 reads as none of: ${forms.map((f) => f.name).join(', ')})`);
    const pages = [...new Set(form.columns.map(([, c]) => c.page))].sort((a, b) => a - b);
    const cells: Record<string, ReadCell> = {};
    for (const page of pages) {
      if (page > doc.getPageCount()) continue;
      const { image, words } = await readPage(page);
      Object.assign(cells, ocrCells(form, page, image, words));
    }
    return { form: form.name, method: 'ocr', pages: doc.getPageCount(), ocrPages: [...pageWords.keys()].sort((a, b) => a - b), cells };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Reads a PDF against the known forms; throws PdfRefused (or ToolFailed) with the cause. */
export async function readPdf(bytes: Uint8Array, forms: FormShape[], limits: ReadLimits): Promise<PdfReading> {
  const doc = await openPdf(bytes, limits);
  for (const form of forms) {
    const cells = readForm(doc, form);
    if (cells) return { form: form.name, method: 'form', pages: doc.getPageCount(), ocrPages: [], cells };
  }
  try {
    return await readScan(doc, bytes, forms, limits);
  } catch (err) {
    if (err instanceof ToolFailed) throw new PdfRefused('PF_PDF_UNREADABLE', `the PDF could not be read by OCR: ${err.message}`);
    throw err;
  }
}
