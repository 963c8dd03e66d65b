/**
 * `make fuzz`, part two: poison files for the importer. Each is imported by `permitflow import`
 * as its own process, on the local stack, in a namespace of its own, with the capped heap the
 * README recommends for big files; its resident memory is sampled while it runs.
 *
 *   node --import tsx test/fuzz/import-poison.ts [--max-rss-mb 300]
 *
 * Each file must end with its expected exit code (0, 2 bad rows, 1 unreadable: never a crash or
 * a signal), a message that names what is wrong, and a peak RSS under --max-rss-mb.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { REPO_ROOT } from '../../lib/config.ts';
import { createNamespace } from '../chaos/workload.ts';

const { values } = parseArgs({ options: { 'max-rss-mb': { type: 'string', default: '300' } } });
const MAPPING = 'sf-dbi-building-permits';
const SAMPLE = readFileSync(join(REPO_ROOT, 'test/fixtures/exports/sf-dbi-building-permits.csv'), 'utf8').split('\n');
const HEADER = SAMPLE[0]!;
const COLUMNS = HEADER.split(',');
const GOOD_ROW = SAMPLE[1]!;

interface Poison {
  name: string;
  file: string;
  /** Mapping name or path (default the shipped CSV mapping). */
  mapping?: string;
  write(path: string): Promise<void>;
  /** Exit codes that are a correct answer to this file. */
  exits: number[];
  /** What the output must say. */
  says: RegExp;
}

function writeFileAsync(path: string, data: Buffer): Promise<void> {
  writeFileSync(path, data);
  return Promise.resolve();
}

async function writeLines(path: string, lines: Iterable<string>): Promise<void> {
  const out = createWriteStream(path);
  for (const line of lines) if (!out.write(`${line}\n`)) await once(out, 'drain');
  out.end();
  await once(out, 'finish');
}

/** A JSON line with the sample row's columns and one value nested `depth` deep. */
function deepLine(depth: number, open: string, close: string): string {
  const cells = GOOD_ROW.split(',');
  const row: Record<string, string> = {};
  COLUMNS.forEach((c, i) => (row[c] = cells[i] ?? ''));
  const text = JSON.stringify(row);
  return `${text.slice(0, -1)},"Deep":${open.repeat(depth)}1${close.repeat(depth)}}`;
}

const POISONS: Poison[] = [
  {
    name: 'CSV with a 64 MB field',
    file: 'huge-field.csv',
    write: (p) => writeLines(p, [HEADER, GOOD_ROW, `1,8,"${'x'.repeat(64 * 1024 * 1024)}"`, GOOD_ROW]),
    exits: [1],
    says: /longer than \d+ bytes/,
  },
  {
    name: 'JSON line with an array nested 300,000 deep',
    file: 'deep-array.jsonl',
    mapping: 'jsonl',
    write: (p) => writeLines(p, [deepLine(300_000, '[', ']')]),
    exits: [2],
    says: /bad row|PF_IMPORT/i,
  },
  {
    name: 'JSON line with an object nested 100,000 deep',
    file: 'deep-object.jsonl',
    mapping: 'jsonl',
    write: (p) => writeLines(p, [deepLine(100_000, '{"a":', '}')]),
    exits: [2],
    says: /bad row|PF_IMPORT/i,
  },
  {
    name: 'UTF-8 file with one Windows-1252 byte',
    file: 'mixed-encoding.csv',
    write: (p) => writeFileAsync(p, Buffer.concat([Buffer.from(`${HEADER}\n${GOOD_ROW}\n`), Buffer.from(GOOD_ROW.replace('Montgomery', 'Montgom\u00e9ry'), 'latin1'), Buffer.from('\n')])),
    exits: [0, 1, 2],
    says: /encoding|UTF-8|Windows-1252|rows? read|produced|bad/i,
  },
  {
    name: 'UTF-16 file',
    file: 'utf16.csv',
    write: (p) => writeFileAsync(p, Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(`${HEADER}\n${GOOD_ROW}\n`, 'utf16le')])),
    exits: [1],
    says: /UTF-16|encoding/i,
  },
  {
    name: 'CSV with NUL bytes (binary)',
    file: 'binary.csv',
    write: (p) => writeFileAsync(p, Buffer.concat([Buffer.from(`${HEADER}\n`), Buffer.alloc(4096, 0), Buffer.from(`${GOOD_ROW}\n`)])),
    exits: [1],
    says: /binary/i,
  },
  {
    name: 'a million bad rows (wrong number of fields)',
    file: 'million-bad-rows.csv',
    write: (p) =>
      writeLines(
        p,
        (function* () {
          yield HEADER;
          for (let i = 0; i < 1_000_000; i++) yield `BAD-${i},only,three`;
        })(),
      ),
    // 1 once the bad-row cap (IMPORT_MAX_BAD_ROWS) stops the file, 2 when every bad row is dead-lettered.
    exits: [1, 2],
    says: /bad rows?|PF_IMPORT/i,
  },
];

function rssMb(pid: number): number {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

interface Outcome {
  name: string;
  exit: number | null;
  signal: string | null;
  peakRssMb: number;
  seconds: number;
  said: string;
  ok: boolean;
  problems: string[];
}

const dir = mkdtempSync(join(tmpdir(), 'permitflow-poison-'));
// The shipped mapping read as JSON Lines: each line an object keyed by the CSV's column names.
const jsonlMapping = join(dir, 'sf-dbi-jsonl.yaml');
writeFileSync(
  jsonlMapping,
  readFileSync(join(REPO_ROOT, `connectors/file-drop/mappings/${MAPPING}.yaml`), 'utf8')
    .replace(/^name: .*$/m, 'name: sf-dbi-jsonl')
    .replace(/^format: csv$/m, 'format: jsonl'),
);
const ns = await createNamespace({ IMPORT_MAX_RECORD_BYTES: String(1024 * 1024) });
const outcomes: Outcome[] = [];
try {
  for (const poison of POISONS) {
    const path = join(dir, poison.file);
    await poison.write(path);
    const started = Date.now();
    const child = spawn(process.execPath, [join(REPO_ROOT, 'bin/permitflow.js'), 'import', path, '--mapping', poison.mapping === 'jsonl' ? jsonlMapping : MAPPING], {
      env: { ...process.env, ...ns.env, NODE_OPTIONS: '--max-old-space-size=96 --max-semi-space-size=4' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const keep = (d: Buffer) => {
      output = (output + d.toString()).slice(-20_000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    let peak = 0;
    const sampler = setInterval(() => (peak = Math.max(peak, rssMb(child.pid!))), 100);
    const [exit, signal] = (await once(child, 'exit')) as [number | null, string | null];
    clearInterval(sampler);
    const problems = [
      signal !== null && `killed by ${signal}`,
      exit !== null && !poison.exits.includes(exit) && `exit ${exit}, expected ${poison.exits.join(' or ')}`,
      !poison.says.test(output) && `the output does not say ${poison.says}`,
      /RangeError|TypeError|at .*\.ts:\d+/.test(output) && 'a stack trace or programmer error in the output',
      peak > Number(values['max-rss-mb']) && `peak RSS ${peak.toFixed(0)} MB over ${values['max-rss-mb']} MB`,
    ].filter((p): p is string => typeof p === 'string');
    const said = output.trim().split('\n').filter(Boolean).slice(-3).join(' | ').slice(0, 300);
    outcomes.push({ name: poison.name, exit, signal, peakRssMb: Math.round(peak), seconds: Math.round((Date.now() - started) / 100) / 10, said, ok: problems.length === 0, problems });
    console.log(`${problems.length === 0 ? 'ok  ' : 'FAIL'} ${poison.name}: exit ${exit ?? signal}, peak RSS ${peak.toFixed(0)} MB, ${((Date.now() - started) / 1000).toFixed(1)} s${problems.length ? `\n     ${problems.join('; ')}` : ''}\n     ${said}`);
    rmSync(path, { force: true });
  }
} finally {
  await ns.cleanup();
  rmSync(dir, { recursive: true, force: true });
}

const table = [
  '| poison file | exit | peak RSS MB | s | ok |',
  '|---|---:|---:|---:|---|',
  ...outcomes.map((o) => `| ${o.name} | ${o.exit ?? o.signal} | ${o.peakRssMb} | ${o.seconds} | ${o.ok ? 'yes' : `no: ${o.problems.join('; ')}`} |`),
].join('\n');
console.log(`\n${table}`);
const results = join(REPO_ROOT, 'bench/results');
mkdirSync(results, { recursive: true });
writeFileSync(join(results, `fuzz-import-${new Date().toISOString().replace(/[:.]/g, '-')}.md`), `# importer poison files ${new Date().toISOString()}\n\n${table}\n`);
process.exitCode = outcomes.every((o) => o.ok) ? 0 : 1;
