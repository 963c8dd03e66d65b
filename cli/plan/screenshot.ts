/**
 * Headless Chromium for the report: a PNG of the whole page for e-mail, and a check that each
 * chart drew (its SVG is on the page with a visible size and drawn marks). The browser is
 * Debian's `chromium`, installed by `permitflow stack tools`; playwright-core drives it and
 * never downloads a browser of its own.
 */
import { existsSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { PermitflowError } from '../../lib/errors.ts';

const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/lib/chromium/chromium'];

/** Debian's Chromium (or the binary given); null when it is not there. */
export function findChromium(explicit?: string): string | null {
  if (explicit) return existsSync(explicit) ? explicit : null;
  return CANDIDATES.find((p) => existsSync(p)) ?? null;
}

export interface ChartCheck {
  id: string;
  width: number;
  height: number;
  /** SVG paths, rects and texts with a non-empty box: the marks the chart drew. */
  marks: number;
}

export interface RenderedReport {
  png: string;
  charts: ChartCheck[];
}

// Runs in the page (the project's TypeScript has no DOM types, so it is passed as source).
const MEASURE_CHARTS = `[...document.querySelectorAll('div.chart')].map((div) => {
  const svg = div.querySelector('svg');
  const box = svg ? svg.getBoundingClientRect() : { width: 0, height: 0 };
  const marks = svg ? [...svg.querySelectorAll('path, rect, text')].filter((el) => {
    const b = el.getBBox();
    return b.width > 0 || b.height > 0;
  }).length : 0;
  return { id: div.id.replace(/^chart-/, ''), width: box.width, height: box.height, marks };
})`;

/** Opens `html` in headless Chromium, measures its charts and writes a full-page PNG to `png`. */
export async function renderInChromium(html: string, png: string, executablePath: string): Promise<RenderedReport> {
  const browser = await chromium.launch({ executablePath, headless: true, args: ['--no-sandbox', '--disable-gpu'] }).catch((err: unknown) => {
    throw PermitflowError.permanent('PF_PLAN_CHROMIUM', `cannot start Chromium at ${executablePath}: ${(err as Error).message.split('\n')[0]}`, { cause: err });
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1000, height: 800 } });
    await page.goto(pathToFileURL(html).href, { waitUntil: 'load' });
    const charts = await page.evaluate<ChartCheck[]>(MEASURE_CHARTS);
    await page.screenshot({ path: png, fullPage: true });
    return { png, charts };
  } finally {
    await browser.close();
  }
}
