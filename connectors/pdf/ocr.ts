/**
 * Reading a page image: poppler's `pdftoppm` rasterises, ImageMagick straightens (deskew) and
 * Tesseract reads words with their boxes and confidences (TSV). Each runs as a child process
 * under `prlimit` (address space) and a timeout, so a hostile page costs bounded memory and
 * time and never the caller's event loop. All three come from Debian packages the local stack
 * installs (ops/stack/extract-tools.ts); nothing is downloaded at run time.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';

export interface ToolLimits {
  /** Wall-clock bound of one tool run. */
  timeoutMs: number;
  /** Address-space bound of one tool run, bytes. */
  memoryBytes: number;
}

export class ToolFailed extends Error {
  override readonly name = 'ToolFailed';
}

function run(command: string, args: string[], limits: ToolLimits, maxBuffer = 32 * 1024 * 1024): Promise<string> {
  return new Promise((resolve, reject) => {
    // One thread per tool (Tesseract's OpenMP, ImageMagick's): the pool's concurrency is the CPU bound. At the lowest
    // priority: where the extractor shares cores with other stages (`run all`), JSON submissions go first.
    execFile('prlimit', [`--as=${limits.memoryBytes}`, '--', 'nice', '-n', '19', 'env', 'OMP_THREAD_LIMIT=1', 'MAGICK_THREAD_LIMIT=1', command, ...args], { timeout: limits.timeoutMs, killSignal: 'SIGKILL', maxBuffer, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (!err) return resolve(stdout);
      const timedOut = (err as { killed?: boolean }).killed === true;
      const why = timedOut ? `did not finish in ${limits.timeoutMs} ms` : `failed (${stderr.split('\n').find((l) => l.trim() !== '')?.slice(0, 200) ?? err.message})`;
      reject(new ToolFailed(`${command} ${why}`));
    });
  });
}

/** A greyscale page: 8-bit pixels, row-major. */
export interface GreyImage {
  width: number;
  height: number;
  pixels: Buffer;
}

/** Parses a binary PGM (P5, maxval 255) as pdftoppm and ImageMagick write it. */
export function parsePgm(bytes: Buffer): GreyImage {
  const header = /^P5\s+(?:#[^\n]*\n\s*)*(\d+)\s+(\d+)\s+(\d+)\s/.exec(bytes.subarray(0, 200).toString('latin1'));
  if (!header || header[3] !== '255') throw new ToolFailed('the rasterised page is not an 8-bit PGM');
  const width = Number(header[1]);
  const height = Number(header[2]);
  return { width, height, pixels: bytes.subarray(header[0].length, header[0].length + width * height) };
}

/** Rasterises one page (1-based) to `<prefix>.pgm`, greyscale at `dpi`, upright as a viewer shows it. */
export async function rasterise(pdfPath: string, page: number, dpi: number, prefix: string, limits: ToolLimits): Promise<string> {
  await run('pdftoppm', ['-gray', '-r', String(dpi), '-f', String(page), '-l', String(page), '-singlefile', pdfPath, prefix], limits);
  return `${prefix}.pgm`;
}

/**
 * Straightens a scanned page (ImageMagick's deskew) and cuts it back to the page's own size
 * around its centre (a rotation grows the canvas), so regions measured on the form still fit.
 */
export async function deskew(input: string, output: string, size: { width: number; height: number }, limits: ToolLimits): Promise<void> {
  const extent = `${size.width}x${size.height}`;
  await run('convert', ['-limit', 'memory', '256MiB', '-limit', 'map', '512MiB', input, '-background', 'white', '-deskew', '40%', '+repage', '-gravity', 'center', '-extent', extent, '-depth', '8', `pgm:${output}`], limits);
}

export interface OcrWord {
  left: number;
  top: number;
  width: number;
  height: number;
  /** Tesseract's word confidence, 0-100. */
  confidence: number;
  text: string;
}

/** Reads every word of an image with Tesseract (English, sparse text: forms are not prose). */
export async function readWords(image: string, limits: ToolLimits): Promise<OcrWord[]> {
  const tsv = await run('tesseract', [image, 'stdout', '-l', 'eng', '--psm', '11', 'tsv'], limits);
  const words: OcrWord[] = [];
  for (const line of tsv.split('\n').slice(1)) {
    const cols = line.split('\t');
    if (cols.length < 12 || cols[0] !== '5') continue;
    const text = cols[11]!.trim();
    const confidence = Number(cols[10]);
    if (text === '' || !(confidence >= 0)) continue;
    words.push({ left: Number(cols[6]), top: Number(cols[7]), width: Number(cols[8]), height: Number(cols[9]), confidence, text });
  }
  return words;
}

export async function readImage(path: string): Promise<GreyImage> {
  return parsePgm(await readFile(path));
}
