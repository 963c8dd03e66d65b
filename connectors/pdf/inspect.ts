/**
 * Opens an untrusted PDF and refuses what the extraction stage will not read, each with a cause
 * an operator can act on: not a PDF, truncated, malformed, encrypted, too many pages, an image
 * too large to rasterise, JavaScript that runs on opening, embedded files.
 *
 * Field-level scripts (format and calculate actions, as real fillable forms carry) are allowed:
 * nothing here executes them, values are read as stored. Scripts that a viewer runs on its own
 * (the catalog's OpenAction or AA, the document's JavaScript name tree) are refused, as are
 * embedded files and file-attachment annotations: neither belongs in an application form, and
 * a clerk opening the archived PDF should not run or unpack them.
 *
 * Runs inside the extraction worker (pdf-lib parsing is synchronous and proportional to the
 * file), whose memory and time are bounded by the caller.
 */
import { PDFArray, PDFDict, PDFDocument, PDFName, PDFNumber, PDFStream, EncryptedPDFError } from 'pdf-lib';

export interface PdfLimits {
  /** Pages a document may have. */
  maxPages: number;
  /** Pixels (width × height) of the largest embedded image. */
  maxImagePixels: number;
}

/** Why a PDF is refused: a stable code and a sentence. */
export class PdfRefused extends Error {
  override readonly name = 'PdfRefused';
  constructor(
    readonly code: 'PF_PDF_NOT_PDF' | 'PF_PDF_TRUNCATED' | 'PF_PDF_MALFORMED' | 'PF_PDF_ENCRYPTED' | 'PF_PDF_TOO_MANY_PAGES' | 'PF_PDF_IMAGE_TOO_LARGE' | 'PF_PDF_JAVASCRIPT' | 'PF_PDF_EMBEDDED_FILE' | 'PF_PDF_NO_FORM' | 'PF_PDF_UNREADABLE',
    message: string,
  ) {
    super(message);
  }
}

/** The trailer marker must be near the end: a file cut short in transfer has none there. */
const EOF_WINDOW = 2048;

function checkEnvelope(bytes: Uint8Array): void {
  const head = Buffer.from(bytes.subarray(0, 1024)).toString('latin1');
  if (!head.includes('%PDF-')) throw new PdfRefused('PF_PDF_NOT_PDF', 'not a PDF: no %PDF- header in the first 1 KB');
  const tail = Buffer.from(bytes.subarray(Math.max(0, bytes.length - EOF_WINDOW))).toString('latin1');
  if (!tail.includes('%%EOF')) throw new PdfRefused('PF_PDF_TRUNCATED', 'truncated PDF: no %%EOF marker at its end (the upload or scan was cut short)');
}

const name = (n: string) => PDFName.of(n);

function hasScriptAction(dict: PDFDict | undefined): boolean {
  if (!dict) return false;
  const s = dict.lookupMaybe(name('S'), PDFName);
  return s?.asString() === '/JavaScript' || dict.has(name('JS'));
}

function refuseActiveContent(doc: PDFDocument): void {
  const catalog = doc.catalog;
  const openAction = catalog.lookup(name('OpenAction'));
  if (openAction instanceof PDFDict && hasScriptAction(openAction)) throw new PdfRefused('PF_PDF_JAVASCRIPT', 'the PDF runs JavaScript when opened (OpenAction); send the form without scripts');
  if (catalog.has(name('AA'))) throw new PdfRefused('PF_PDF_JAVASCRIPT', 'the PDF has document-level actions (AA) that a viewer runs by itself; send the form without them');
  const names = catalog.lookupMaybe(name('Names'), PDFDict);
  if (names?.has(name('JavaScript'))) throw new PdfRefused('PF_PDF_JAVASCRIPT', 'the PDF carries document-level JavaScript (Names/JavaScript); send the form without scripts');
  if (names?.has(name('EmbeddedFiles'))) throw new PdfRefused('PF_PDF_EMBEDDED_FILE', 'the PDF embeds files (Names/EmbeddedFiles); send attachments as separate files');
  for (const page of doc.getPages()) {
    const annots = page.node.lookupMaybe(name('Annots'), PDFArray);
    for (let i = 0; annots && i < annots.size(); i++) {
      const annot = annots.lookupMaybe(i, PDFDict);
      if (annot?.lookupMaybe(name('Subtype'), PDFName)?.asString() === '/FileAttachment') {
        throw new PdfRefused('PF_PDF_EMBEDDED_FILE', 'the PDF has a file-attachment annotation; send attachments as separate files');
      }
      // A link or button that runs a script is as active as an OpenAction once a clerk clicks it.
      if (annot?.lookupMaybe(name('Subtype'), PDFName)?.asString() === '/Link' && hasScriptAction(annot.lookupMaybe(name('A'), PDFDict))) {
        throw new PdfRefused('PF_PDF_JAVASCRIPT', 'the PDF has a link that runs JavaScript; send the form without scripts');
      }
    }
  }
}

function refuseHugeImages(doc: PDFDocument, limits: PdfLimits): void {
  for (const [, object] of doc.context.enumerateIndirectObjects()) {
    if (!(object instanceof PDFStream)) continue;
    const dict = object.dict;
    if (dict.lookupMaybe(name('Subtype'), PDFName)?.asString() !== '/Image') continue;
    const width = dict.lookupMaybe(name('Width'), PDFNumber)?.asNumber() ?? 0;
    const height = dict.lookupMaybe(name('Height'), PDFNumber)?.asNumber() ?? 0;
    if (width * height > limits.maxImagePixels) {
      throw new PdfRefused('PF_PDF_IMAGE_TOO_LARGE', `an embedded image is ${width} × ${height} pixels, over the ${limits.maxImagePixels} allowed; scan at 300 dpi or less`);
    }
  }
}

/** Loads and checks a PDF; throws PdfRefused with the cause. */
export async function openPdf(bytes: Uint8Array, limits: PdfLimits): Promise<PDFDocument> {
  checkEnvelope(bytes);
  let doc: PDFDocument;
  try {
    doc = await PDFDocument.load(bytes, { updateMetadata: false, throwOnInvalidObject: true });
  } catch (err) {
    // Matched by message too: pdf-lib's CommonJS and ESM builds each have their own error class.
    if (err instanceof EncryptedPDFError || /is encrypted/.test((err as Error).message)) throw new PdfRefused('PF_PDF_ENCRYPTED', 'the PDF is encrypted (password-protected); send it without a password');
    throw new PdfRefused('PF_PDF_MALFORMED', `malformed PDF: ${(err as Error).message.split('\n')[0]!.slice(0, 200)}`);
  }
  let pages: number;
  try {
    pages = doc.getPageCount();
  } catch (err) {
    throw new PdfRefused('PF_PDF_MALFORMED', `malformed PDF: its page tree cannot be read (${(err as Error).message.slice(0, 200)})`);
  }
  if (pages === 0) throw new PdfRefused('PF_PDF_MALFORMED', 'malformed PDF: it has no pages');
  if (pages > limits.maxPages) throw new PdfRefused('PF_PDF_TOO_MANY_PAGES', `the PDF has ${pages} pages, over the ${limits.maxPages} an application may have; send the form alone and plans as attachments`);
  refuseActiveContent(doc);
  refuseHugeImages(doc, limits);
  return doc;
}
