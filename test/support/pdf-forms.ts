/**
 * PDF applications for tests: the real NJ UCC F100 form (test/fixtures/pdf) filled in with
 * pdf-lib, a "scan" of it (flattened, rasterised by poppler, noise and skew added by ImageMagick,
 * pages wrapped back into an image-only PDF), and the bad PDFs the extraction stage must refuse.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PDFDocument, PDFName, PDFString } from 'pdf-lib';
import { REPO_ROOT } from '../../lib/config.ts';

const exec = promisify(execFile);

export const F100_PATH = join(REPO_ROOT, 'test/fixtures/pdf/nj-ucc-f100.pdf');

/** An application as an applicant writes it on the F100 (the fixture county's first sample). */
export const F100_VALUES = {
  'Proposed Work Site': '1842 NE Alder Creek Rd, Cedar Falls, OR 97402',
  'Owner in Fee': 'Marisol Okafor',
  'Owner Telephone': '541-555-0142',
  'Owner eMail': 'm.okafor@example.org',
  'Princ Contractor': 'Ridgeline Builders LLC',
  'Contractor License': 'CCB-214580',
  Block: '17-04-22-00',
  Lot: '01400',
  'Total Est Cost': '86500',
  'Number Stories': '1',
  'Res Use Descrip': 'Rear room addition',
} as const;

/** The application fields a reading of F100_VALUES (with Addition ticked) must give. */
export const F100_EXPECTED = {
  jurisdiction: 'us-or-cedar-county',
  permitType: 'Building',
  permitClass: 'Residential',
  workClass: 'Addition',
  description: 'Rear room addition',
  site: { address: { line1: '1842 NE Alder Creek Rd', city: 'Cedar Falls', state: 'OR', postalCode: '97402' }, parcelNumber: '17-04-22-00-01400' },
  applicant: { name: 'Marisol Okafor', email: 'm.okafor@example.org', phone: '541-555-0142' },
  contractor: { companyName: 'Ridgeline Builders LLC', licenseNumber: 'CCB-214580' },
  project: { estimatedCost: 86500, stories: 1 },
} as const;

export async function filledF100(values: Record<string, string> = F100_VALUES, ticked: string[] = ['Addition']): Promise<Uint8Array> {
  const doc = await PDFDocument.load(await readFile(F100_PATH));
  const form = doc.getForm();
  for (const [name, value] of Object.entries(values)) form.getTextField(name).setText(value);
  for (const name of ticked) form.getCheckBox(name).check();
  return doc.save();
}

/** A paper copy of `pdf` scanned back: image-only pages, slightly rotated, with scanner noise. */
export async function scanned(pdf: Uint8Array, options: { dpi?: number; skewDegrees?: number; noise?: number } = {}): Promise<Uint8Array> {
  const { dpi = 150, skewDegrees = 1.2, noise = 0.4 } = options;
  const dir = await mkdtemp(join(tmpdir(), 'permitflow-scan-'));
  try {
    const flat = await PDFDocument.load(pdf);
    flat.getForm().flatten();
    await writeFile(join(dir, 'flat.pdf'), await flat.save());
    await exec('pdftoppm', ['-gray', '-r', String(dpi), '-f', '1', '-l', '1', '-png', join(dir, 'flat.pdf'), join(dir, 'page')]);
    const page = join(dir, 'page-1.png');
    const noisy = join(dir, 'scan.jpg');
    // The paper turned on the glass: the content rotates within a page of the same size.
    const { stdout: size } = await exec('identify', ['-format', '%wx%h', page]);
    await exec('convert', [page, '-background', 'white', '-rotate', String(skewDegrees), '-gravity', 'center', '-extent', size.trim(), '-attenuate', String(noise), '+noise', 'Gaussian', '-quality', '70', noisy]);
    const out = await PDFDocument.create();
    const image = await out.embedJpg(await readFile(noisy));
    const width = (image.width * 72) / dpi;
    const height = (image.height * 72) / dpi;
    out.addPage([width, height]).drawImage(image, { x: 0, y: 0, width, height });
    return out.save();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The bad PDFs of the issue, each with the refusal code it must get. */
export async function badPdfs(): Promise<Array<{ name: string; bytes: Uint8Array; code: string }>> {
  const filled = await filledF100();
  const blank = await PDFDocument.create();
  blank.addPage([612, 792]);
  const thousands = await PDFDocument.create();
  for (let i = 0; i < 2000; i++) thousands.addPage([612, 792]);
  const withScript = await PDFDocument.load(filled);
  withScript.addJavaScript('opened', 'app.alert("hello")');
  const withFile = await PDFDocument.load(filled);
  await withFile.attach(Buffer.from('MZ not really a program'), 'setup.exe', { mimeType: 'application/octet-stream' });
  const openAction = await PDFDocument.load(filled);
  openAction.catalog.set(PDFName.of('OpenAction'), openAction.context.obj({ S: 'JavaScript', JS: PDFString.of('app.alert(1)') }));
  return [
    { name: 'not a PDF', bytes: Buffer.from('%!PS-Adobe-3.0\nshowpage\n'), code: 'PF_PDF_NOT_PDF' },
    { name: 'truncated', bytes: filled.subarray(0, Math.floor(filled.length * 0.6)), code: 'PF_PDF_TRUNCATED' },
    { name: 'malformed', bytes: Buffer.from('%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 9 0 R >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n'), code: 'PF_PDF_MALFORMED' },
    { name: 'encrypted', bytes: await readFile(join(REPO_ROOT, 'test/fixtures/pdf/encrypted.pdf')), code: 'PF_PDF_ENCRYPTED' },
    { name: '2,000 pages', bytes: await thousands.save(), code: 'PF_PDF_TOO_MANY_PAGES' },
    { name: 'huge image', bytes: await hugeImagePdf(), code: 'PF_PDF_IMAGE_TOO_LARGE' },
    { name: 'document JavaScript', bytes: await withScript.save(), code: 'PF_PDF_JAVASCRIPT' },
    { name: 'JavaScript on open', bytes: await openAction.save(), code: 'PF_PDF_JAVASCRIPT' },
    { name: 'embedded file', bytes: await withFile.save(), code: 'PF_PDF_EMBEDDED_FILE' },
    { name: 'no known form', bytes: await blank.save(), code: 'PF_PDF_NO_FORM' },
  ];
}

/** A page whose image says it is 30,000 × 30,000 pixels (the stream is tiny: Flate of zeros would be, too). */
async function hugeImagePdf(): Promise<Uint8Array> {
  const doc = await PDFDocument.create();
  const page = doc.addPage([612, 792]);
  const image = doc.context.stream(Buffer.alloc(16), { Type: 'XObject', Subtype: 'Image', Width: 30000, Height: 30000, ColorSpace: 'DeviceGray', BitsPerComponent: 8 });
  const ref = doc.context.register(image);
  page.node.setXObject(PDFName.of('Im0'), ref);
  return doc.save();
}
