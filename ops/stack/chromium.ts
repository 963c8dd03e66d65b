/**
 * Headless Chromium for `permitflow plan`'s PNG and the test that renders its report: Debian's
 * `chromium` (driven by playwright-core, which downloads no browser), with a font so the charts'
 * text has glyphs. Installed with apt-get by `permitflow stack tools` when missing.
 */
import { findChromium } from '../../cli/plan/screenshot.ts';
import { logFile } from './proc.ts';
import { StackError, type StackPaths } from './service.ts';
import { aptInstall } from './tools.ts';

export async function ensureChromium(paths: StackPaths, say: (tool: string, message: string) => void): Promise<string> {
  const found = findChromium();
  if (found) return found;
  say('chromium', 'installing Debian packages chromium and fonts-dejavu-core');
  await aptInstall(['chromium', 'fonts-dejavu-core'], 'chromium', logFile(paths, 'chromium.install'));
  return requireChromium();
}

/** The browser, or a StackError saying how to get it (tests fail on it, never skip). */
export function requireChromium(): string {
  const found = findChromium();
  if (!found) throw new StackError('Chromium is not installed: run `make test` or `./bin/permitflow.js stack tools` (installs the Debian package chromium).');
  return found;
}
