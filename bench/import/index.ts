/**
 * Import benchmark on the running local stack: a large generated export (default 1 GB) through
 * `permitflow import` (hash pass, parse, map, validate, canonical hash, Avro, transactions with
 * checkpoints, acks=all), against csv-parse alone reading the same file in the same run.
 * Reports rows/s of each, their ratio, and the importer's peak RSS (goal: under 200 MB).
 *
 * The importer runs as a child process the way an operator runs it, with the V8 heap caps the
 * README recommends for imports (NODE_OPTIONS below; without them V8 lets an idle-collected
 * heap grow lazily). Peak RSS is the child's VmHWM, polled from /proc.
 *
 * On a shared machine wall-clock rates say more about the neighbours than about the importer, so
 * each side's CPU-seconds (polled from /proc with the RSS) are reported too, with the ratio of
 * rows per CPU-second. --profile writes the importer's V8 CPU profile (--cpu-prof) to
 * bench/results/import-profile-<timestamp>/.
 *
 * Usage: see USAGE below (what --help prints).
 * Uses a dedicated topic namespace, deleted afterwards, and deletes the generated file unless
 * --keep. Results go to bench/results/import-<timestamp>.{json,md}.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseBenchArgs } from '../args.ts';
import { loadConfig, REPO_ROOT } from '../../lib/config.ts';
import { createKafka } from '../../lib/kafka.ts';
import { createLogger } from '../../lib/logger.ts';
import { createRegistry, createSerde } from '../../schemas/serde.ts';
import { applyTopology } from '../../topology/apply.ts';
import { buildTopology } from '../../topology/topics.ts';
import { generateExport } from './generate.ts';
import { cpuSeconds, peakRssMb } from '../../ops/stack/proc.ts';

const USAGE = `Usage: node --import tsx bench/import/index.ts [--size 1GB] [--file existing.csv] [--keep] [--profile] [--node-options '...']
(--node-options replaces the importer's heap caps, to weigh GC against RSS).`;

const { values } = parseBenchArgs('import', USAGE, {
  options: { size: { type: 'string', default: '1GB' }, file: { type: 'string' }, keep: { type: 'boolean', default: false }, profile: { type: 'boolean', default: false }, 'node-options': { type: 'string', default: '--max-old-space-size=96 --max-semi-space-size=4' } },
});
const IMPORT_NODE_OPTIONS = values['node-options'];
const gb = Number(/^(\d+(?:\.\d+)?)GB$/i.exec(values.size)?.[1] ?? NaN);
if (!values.file && !Number.isFinite(gb)) throw new Error('--size takes a size in GB, e.g. 1GB or 0.25GB');

/** Runs a command to its end, polling its peak RSS and CPU time; returns stdout, exit code, peak RSS and CPU-seconds. */
async function measure(args: string[], env: Record<string, string> = {}): Promise<{ stdout: string; code: number | null; peakRssBytes: number; cpuSeconds: number; ms: number }> {
  const started = performance.now();
  const child = spawn(process.execPath, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  let stdout = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  let peak = 0;
  let cpu = 0;
  const timer = setInterval(() => {
    try {
      peak = Math.max(peak, peakRssMb(child.pid!) * 1024 * 1024);
      cpu = cpuSeconds(child.pid!);
    } catch {
      // exited
    }
  }, 100);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearInterval(timer);
  // The last poll is at most 100 ms before the exit: the CPU figure misses at most that much.
  return { stdout, code, peakRssBytes: peak, cpuSeconds: cpu, ms: performance.now() - started };
}

const mb = (n: number) => Math.round(n / 2 ** 20);
const file = values.file ?? join('/tmp', `permitflow-bench-import-${randomBytes(3).toString('hex')}.csv`);
if (!values.file) {
  console.error(`generating ${values.size} export at ${file} ...`);
  const { rows, bytes } = await generateExport(file, { bytes: gb * 2 ** 30 });
  console.error(`  ${rows} rows, ${mb(bytes)} MiB`);
}
const bytes = statSync(file).size;

const namespace = `benchimport${randomBytes(3).toString('hex')}`;
const env = { PERMITFLOW_TOPIC_NAMESPACE: namespace, PERMITFLOW_PARTITIONS: '6', LOG_LEVEL: 'warn' };
const config = loadConfig({ ...process.env, ...env });
const topology = buildTopology(config.topology);
const kafka = createKafka(config, createLogger({ level: 'warn' }));
const admin = kafka.admin();
await admin.connect();
await applyTopology(topology, admin, createSerde(createRegistry(config)));

let succeeded = false;
try {
  console.error('csv-parse alone ...');
  const parseRun = await measure(['--import', 'tsx', join(REPO_ROOT, 'bench/import/parse-only.ts'), file]);
  const parsed = JSON.parse(parseRun.stdout) as { rows: number; ms: number; peakRssBytes: number };
  const parseRate = parsed.rows / (parsed.ms / 1000);
  console.error(`  ${parsed.rows} rows in ${(parsed.ms / 1000).toFixed(1)} s: ${Math.round(parseRate)} rows/s, peak RSS ${mb(parseRun.peakRssBytes)} MiB`);

  console.error('permitflow import ...');
  const profileDir = join(REPO_ROOT, 'bench/results', `import-profile-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  const nodeOptions = values.profile ? `${IMPORT_NODE_OPTIONS} --cpu-prof --cpu-prof-dir=${profileDir}` : IMPORT_NODE_OPTIONS;
  const importRun = await measure([join(REPO_ROOT, 'bin/permitflow.js'), 'import', file, '--mapping', 'sf-dbi-building-permits', '--json'], { ...env, NODE_OPTIONS: nodeOptions });
  if (importRun.code !== 0) throw new Error(`import exited ${importRun.code}: ${importRun.stdout.slice(-2000)}`);
  // Log lines share stdout with the report: the report is the pretty-printed object at the end.
  const report = JSON.parse(importRun.stdout.slice(importRun.stdout.lastIndexOf('{\n  "status"'))) as { counts: { read: number; produced: number; bad: number }; elapsedMs: number; rowsPerSecond: number };
  const importRate = report.counts.read / (importRun.ms / 1000);
  const parseCpuRate = parsed.rows / parseRun.cpuSeconds;
  const importCpuRate = report.counts.read / importRun.cpuSeconds;
  const result = {
    at: new Date().toISOString(),
    file: { bytes, mib: mb(bytes), rows: parsed.rows },
    csvParseAlone: { rowsPerSecond: Math.round(parseRate), seconds: +(parsed.ms / 1000).toFixed(1), peakRssMiB: mb(parseRun.peakRssBytes), cpuSeconds: parseRun.cpuSeconds, cpuSecondsPer1000Rows: +((parseRun.cpuSeconds * 1000) / parsed.rows).toFixed(4) },
    importer: {
      nodeOptions: IMPORT_NODE_OPTIONS,
      rowsPerSecond: Math.round(importRate),
      seconds: +(importRun.ms / 1000).toFixed(1),
      rowsPerSecondAfterHashPass: report.rowsPerSecond,
      peakRssMiB: mb(importRun.peakRssBytes),
      cpuSeconds: importRun.cpuSeconds,
      cpuSecondsPer1000Rows: +((importRun.cpuSeconds * 1000) / report.counts.read).toFixed(4),
      ...(values.profile && { profile: profileDir }),
      produced: report.counts.produced,
      bad: report.counts.bad,
    },
    ratio: +(importRate / parseRate).toFixed(3),
    /** Rows per CPU-second, importer over parser: the figure that survives a busy machine. */
    cpuRatio: +(importCpuRate / parseCpuRate).toFixed(3),
    loadAverage: loadavg().map((l) => +l.toFixed(2)),
    goal: { peakRssUnder200MiB: importRun.peakRssBytes < 200 * 2 ** 20 },
  };
  console.log(JSON.stringify(result, null, 2));
  succeeded = true;
  const dir = join(REPO_ROOT, 'bench/results');
  mkdirSync(dir, { recursive: true });
  const stamp = result.at.replace(/[:.]/g, '-');
  writeFileSync(join(dir, `import-${stamp}.json`), `${JSON.stringify(result, null, 2)}\n`);
  writeFileSync(
    join(dir, `import-${stamp}.md`),
    [
      `# Import benchmark, ${result.at}`,
      '',
      `${result.file.mib} MiB generated SF-DBI-layout export, ${result.file.rows} rows, 6 partitions, local stack.`,
      '',
      '| | rows/s | seconds | CPU-s per 1,000 rows | peak RSS |',
      '|---|---|---|---|---|',
      `| csv-parse alone | ${result.csvParseAlone.rowsPerSecond} | ${result.csvParseAlone.seconds} | ${result.csvParseAlone.cpuSecondsPer1000Rows} | ${result.csvParseAlone.peakRssMiB} MiB |`,
      `| permitflow import (${IMPORT_NODE_OPTIONS}) | ${result.importer.rowsPerSecond} | ${result.importer.seconds} | ${result.importer.cpuSecondsPer1000Rows} | ${result.importer.peakRssMiB} MiB |`,
      '',
      `Ratio importer / parser: ${result.ratio} (wall), ${result.cpuRatio} (rows per CPU-second); load ${result.loadAverage.join(' ')}. Peak RSS under 200 MiB: ${result.goal.peakRssUnder200MiB}.`,
      '',
    ].join('\n'),
  );
} finally {
  await admin.deleteTopics({ topics: [...Object.values(topology.topics).map((t) => t.name), ...topology.changelogs.map((c) => c.name)] }).catch(() => undefined);
  await admin.disconnect();
  if (!values.file && !values.keep && succeeded) rmSync(file, { force: true });
  else console.error(`kept ${file}`);
}
