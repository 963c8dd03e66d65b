/**
 * The tools the extraction stage runs (connectors/pdf/ocr.ts): poppler's pdftoppm, ImageMagick
 * and Tesseract with its English data, from Debian packages, installed by `stack up` when
 * missing so a fresh machine has them before any stage starts. Nothing is downloaded at run time.
 */
import { spawnSync } from 'node:child_process';
import { logFile } from './proc.ts';
import type { StackPaths } from './service.ts';
import { StackError } from './service.ts';
import { aptInstall, which } from './tools.ts';

export const EXTRACT_PACKAGES = ['poppler-utils', 'imagemagick', 'tesseract-ocr', 'tesseract-ocr-eng'] as const;

/** What is missing, by Debian package. `identify` stands for ImageMagick: some images ship a lone `convert` shim. */
export function missingExtractPackages(): string[] {
  const missing: string[] = [];
  if (!which('pdftoppm')) missing.push('poppler-utils');
  if (!which('identify')) missing.push('imagemagick');
  if (!which('tesseract')) missing.push('tesseract-ocr', 'tesseract-ocr-eng');
  else if (!/^eng$/m.test(spawnSync('tesseract', ['--list-langs'], { encoding: 'utf8', timeout: 15_000 }).stdout ?? '')) missing.push('tesseract-ocr-eng');
  return missing;
}

/** Installs what is missing; a line for `stack up` saying what is there. */
export async function ensureExtractTools(paths: StackPaths, say: (message: string) => void): Promise<string> {
  const missing = missingExtractPackages();
  if (missing.length > 0) {
    say(`installing Debian packages ${missing.join(', ')} for the extraction stage`);
    await aptInstall(missing, 'The extraction stage (pdftoppm, ImageMagick, Tesseract)', logFile(paths, 'extract-tools'));
  }
  const still = missingExtractPackages();
  if (still.length > 0) throw new StackError(`the extraction stage needs ${still.join(', ')}; install them with apt-get install -y ${still.join(' ')}`);
  return 'pdftoppm, ImageMagick, Tesseract (eng)';
}
