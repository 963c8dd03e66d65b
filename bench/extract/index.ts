/**
 * PDF extraction benchmark (no services): the extraction pool (connectors/pdf) reading the real
 * NJ UCC F100 form, filled in (AcroForm fields, 3 pages) and scanned (OCR of page 1 at
 * EXTRACT_OCR_DPI), EXTRACT_CONCURRENCY documents at a time, each in its own worker thread.
 *
 *   pages/s by form fields and by OCR (wall clock, the pool's concurrency included), ms per
 *   document (median, max), and the process's peak RSS (worker threads included; the OCR tools
 *   are child processes, bounded by EXTRACT_MEMORY_MB × 4 of address space each).
 *
 * With --mixed N (the running local stack): JSON submissions' end-to-end rate through the stages
 * (--layout all: one `run all` process; stages: one process per stage, as deployed) with --forms
 * filled forms and --scans scans mixed in, vs without (mixed.ts); goal within 10%. --pairs K runs
 * K pairs, every other one with the PDFs first (a machine shared with others drifts), and reports
 * each pair's ratio and their median.
 *
 * Usage: see USAGE below (what --help prints).
 * Results are printed and written to bench/results/extract-<timestamp>.{json,md}.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseBenchArgs } from '../args.ts';
import { createPdfExtractor } from '../../connectors/pdf/extractor.ts';
import { loadFormMappings } from '../../connectors/pdf/form-mapping.ts';
import { loadConfig, REPO_ROOT } from '../../lib/config.ts';
import { filledF100, scanned } from '../../test/support/pdf-forms.ts';
import { portInUse } from '../../ops/stack/proc.ts';
import { startLookupFixtures } from '../e2e/lookup-fixtures.ts';
import { mixedRun } from './mixed.ts';

const USAGE = 'Usage: node --import tsx bench/extract/index.ts [--forms N] [--scans N] [--mixed N] [--layout all|stages] [--pairs K]';

const { values: args } = parseBenchArgs('extract', USAGE, { options: { forms: { type: 'string', default: '20' }, scans: { type: 'string', default: '4' }, mixed: { type: 'string' }, layout: { type: 'string', default: 'all' }, pairs: { type: 'string', default: '1' } } });
if (args.layout !== 'all' && args.layout !== 'stages') throw new Error(`--layout ${args.layout}: expected all or stages`);
const layout = args.layout;
const config = loadConfig();
// The PDF work runs at the lowest priority: on a machine busy with other work a scan waits long for a core, and the
// deadline (what the mixed runs set too) is not what is measured here.
const extractor = createPdfExtractor({ forms: loadFormMappings(config.extract.formsDir), ...config.extract, timeoutMs: Math.max(config.extract.timeoutMs, 300_000) });

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
const round = (x: number, digits = 2) => Math.round(x * 10 ** digits) / 10 ** digits;

async function measure(label: string, pdfs: Uint8Array[], pagesOf: (r: Awaited<ReturnType<typeof extractor.extract>>) => number) {
  const started = performance.now();
  const cpu = process.cpuUsage();
  const perDocument: number[] = [];
  let pages = 0;
  await Promise.all(
    pdfs.map(async (pdf) => {
      const t = performance.now();
      const result = await extractor.extract(pdf);
      perDocument.push(performance.now() - t);
      pages += pagesOf(result);
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  return { label, documents: pdfs.length, pages, seconds: round(seconds), pagesPerSecond: round(pages / seconds), msPerDocumentMedian: Math.round(median(perDocument)), msPerDocumentMax: Math.round(Math.max(...perDocument)), mainProcessCpuSeconds: round((used.user + used.system) / 1e6) };
}

const filled = await filledF100();
const scan = await scanned(filled);
const loadBefore = loadavg()[0]!;
// Form fields: every page of the form counts (the fields are read from all three).
const form = await measure('form fields', Array.from({ length: Number(args.forms) }, () => filled), (r) => r.extraction.pages);
// OCR: the pages rasterised and read.
const ocr = await measure('OCR', Array.from({ length: Number(args.scans) }, () => scan), (r) => r.extraction.ocrPages.length);
// The JSON rate with and without PDFs, each in a fresh namespace on the local stack.
const mixed = args.mixed === undefined ? null : await (async () => {
  const rows = Number(args.mixed);
  // The county stand-ins of bench/e2e on the LOOKUPS_* defaults: started here unless already listening (the same fixtures).
  const fixtures = (await portInUse(Number(new URL(config.lookups.endpoints.parcels).port))) ? null : await startLookupFixtures();
  const pdfs = [...Array.from({ length: Number(args.forms) }, () => filled), ...Array.from({ length: Number(args.scans) }, () => scan)];
  try {
    const pairs = [];
    for (let i = 0; i < Number(args.pairs); i++) {
      // Every other pair runs the PDFs first: a drift in the machine's load then favours neither side.
      const first = await mixedRun(rows, i % 2 === 0 ? [] : pdfs, layout);
      const second = await mixedRun(rows, i % 2 === 0 ? pdfs : [], layout);
      const [without, withPdfs] = i % 2 === 0 ? [first, second] : [second, first];
      pairs.push({ without, withPdfs, ratio: round(withPdfs.jsonPerSecond / without.jsonPerSecond) });
    }
    return { rows, layout, pairs, medianRatio: median(pairs.map((p) => p.ratio)) };
  } finally {
    fixtures?.kill('SIGTERM');
  }
})();
const results = {
  at: new Date().toISOString(),
  machine: { cpus: cpus().length, loadBefore: round(loadBefore), loadAfter: round(loadavg()[0]!) },
  settings: { concurrency: config.extract.concurrency, dpi: config.extract.dpi, memoryMb: config.extract.memoryMb, timeoutMs: config.extract.timeoutMs },
  scenarios: [form, ocr],
  peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
  mixed,
};

const md = [
  `# PDF extraction, ${results.at}`,
  '',
  `${results.machine.cpus} CPUs, load ${results.machine.loadBefore} before, ${results.machine.loadAfter} after; EXTRACT_CONCURRENCY ${results.settings.concurrency}, OCR at ${results.settings.dpi} dpi`,
  '',
  '| reading | documents | pages | s | pages/s | ms per document (median / max) | CPU s (main process) |',
  '|---|---|---|---|---|---|---|',
  ...results.scenarios.map((s) => `| ${s.label} | ${s.documents} | ${s.pages} | ${s.seconds} | ${s.pagesPerSecond} | ${s.msPerDocumentMedian} / ${s.msPerDocumentMax} | ${s.mainProcessCpuSeconds} |`),
  '',
  `Peak RSS of the process (worker threads included, OCR tools are child processes): ${results.peakRssMb} MB`,
  '',
  ...(mixed
    ? [
        `JSON end-to-end, ${mixed.rows} JSON submissions, layout ${mixed.layout === 'all' ? '`run all`' : 'one process per stage'}: median ratio ${mixed.medianRatio} over ${mixed.pairs.length} pair(s) (goal at least 0.9)`,
        '',
        '| pair | JSON/s alone (s, load) | JSON/s with PDFs (s, load) | PDFs decided by then / dead-lettered | ratio |',
        '|---|---|---|---|---|',
        ...mixed.pairs.map(
          (p, i) =>
            `| ${i + 1} | ${p.without.jsonPerSecond} (${p.without.seconds} s, ${p.without.loadAverage}) | ${p.withPdfs.jsonPerSecond} with ${p.withPdfs.pdfs} PDFs (${p.withPdfs.seconds} s, ${p.withPdfs.loadAverage}) | ${p.withPdfs.pdfsDecided} / ${p.withPdfs.pdfsDeadLettered} ${JSON.stringify(p.withPdfs.deadLetters)} | ${p.ratio} |`,
        ),
        '',
      ]
    : []),
].join('\n');
console.log(md);
const dir = join(REPO_ROOT, 'bench/results');
mkdirSync(dir, { recursive: true });
const stamp = results.at.replace(/[:.]/g, '-');
writeFileSync(join(dir, `extract-${stamp}.json`), `${JSON.stringify(results, null, 2)}\n`);
writeFileSync(join(dir, `extract-${stamp}.md`), md);
