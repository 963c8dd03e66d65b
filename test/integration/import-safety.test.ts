/**
 * The importer's safety cases on the real stack: Windows-1252 exports converted, BOM and CRLF,
 * quoted newlines with exact line numbers, formula-injection cells flagged, symlinks and
 * non-text files refused, and a file far larger than the memory it is imported with.
 */
import assert from 'node:assert/strict';
import { readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import iconv from 'iconv-lite';
import { generateExport } from '../../bench/import/generate.ts';
import { HEADER, syntheticRow } from '../../bench/import/synthetic.ts';
import { loadPayload } from '../../connectors/claim-check.ts';
import { FORMULA_FLAG } from '../../connectors/file-drop/mapper.ts';
import { loadMapping } from '../../connectors/file-drop/mapping.ts';
import type { DeadLetter, PermitApplication, SubmissionEnvelope } from '../../schemas/types.ts';
import { eventually } from '../support/intake-stack.ts';
import { readAll } from '../support/pipeline.ts';
import { importHere, importStack, permitflow, SAMPLE, SF_MAPPING, tempDir } from '../support/import.ts';

/** A synthetic row with its Description (column 13) replaced. */
function rowWithDescription(i: number, description: string): string {
  const fields = syntheticRow(i).split(',');
  const start = fields.findIndex((f) => f.startsWith('"unit '));
  const end = fields.findIndex((f, j) => j >= start && f.endsWith('"'));
  return [...fields.slice(0, start), `"${description.replaceAll('"', '""')}"`, ...fields.slice(end + 1)].join(',');
}

/**
 * The imported applications by source reference, once all `expected` are readable: the import's
 * commit returns before the transaction's markers reach every partition, and until then a
 * read_committed reader's end is short of the records.
 */
async function applications(config: Parameters<typeof readAll>[0], topology: Parameters<typeof readAll>[1], expected: number): Promise<Map<string, PermitApplication>> {
  const raw = await eventually(`${expected} records on the raw topic`, async () => {
    const records = await readAll<SubmissionEnvelope>(config, topology, 'raw');
    return records.length >= expected ? records.map((r) => r.value) : undefined;
  });
  return new Map(await Promise.all(raw.map(async (e) => [e.sourceReference!, JSON.parse((await loadPayload(undefined, e.payload)).toString()) as PermitApplication] as const)));
}

test('a Windows-1252 export with CRLF, quoted newlines and formula cells: converted, flagged, lines exact', async (t) => {
  const { config, topology } = await importStack(t);
  const rows = [
    rowWithDescription(0, 'Café – “new” deck, 2nd floor'),
    rowWithDescription(1, 'scope:\r\nremove wall\r\nadd beam'),
    rowWithDescription(2, '@SUM(A1:A9)'),
    syntheticRow(3).replace(/,(\d\d\/\d\d\/\d{4} \d\d:\d\d:\d\d [AP]M),\1,/, ',$1,not a date,'),
    rowWithDescription(4, '-2+3+cmd|" /C calc"!A0'),
    rowWithDescription(5, '-12.5'),
    rowWithDescription(6, '+1 (415) 555-0100'),
  ];
  const file = join(tempDir(t), 'legacy-1252.csv');
  writeFileSync(file, iconv.encode(`${[HEADER, ...rows].join('\r\n')}\r\n`, 'win1252'));

  const report = await importHere(config, file, loadMapping(SF_MAPPING));
  assert.equal(report.status, 'completed', JSON.stringify(report.error));
  assert.equal(report.file.encoding, 'windows-1252');
  assert.deepEqual(report.counts, { read: 7, produced: 6, duplicates: 0, bad: 1, flagged: 2 });

  const apps = await applications(config, topology, report.counts.produced);
  const permit = (i: number) => syntheticRow(i).split(',')[0]!;
  assert.equal(apps.get(permit(0))!.description, 'Café – “new” deck, 2nd floor');
  assert.equal(apps.get(permit(1))!.description, 'scope:\r\nremove wall\r\nadd beam');
  assert.equal(apps.get(permit(2))!.extraFields?.[FORMULA_FLAG], 'Description');
  assert.equal(apps.get(permit(2))!.description, '@SUM(A1:A9)', 'kept as data, never evaluated');
  assert.equal(apps.get(permit(4))!.extraFields?.[FORMULA_FLAG], 'Description');
  assert.equal(apps.get(permit(5))!.extraFields?.[FORMULA_FLAG], undefined, 'a signed number is data');
  assert.equal(apps.get(permit(6))!.extraFields?.[FORMULA_FLAG], undefined, 'a phone number is data');
  // Header line 1, rows on 2, 3-5 (two quoted line breaks), 6, then the bad row on line 7.
  const [letter] = (await readAll<DeadLetter>(config, topology, 'dlq')).map((r) => r.value);
  assert.equal(letter!.originalOffset, 7);
  assert.match(letter!.errorMessage, /^legacy-1252\.csv:7: /);
});

test('UTF-8 with a byte-order mark and CRLF line ends: the first column is found, values are clean', async (t) => {
  const { config, topology } = await importStack(t);
  const file = join(tempDir(t), 'bom-crlf.csv');
  const text = readFileSync(SAMPLE, 'utf8').split('\n').slice(0, 6).join('\r\n');
  writeFileSync(file, `\ufeff${text}\r\n`);
  const report = await importHere(config, file, loadMapping(SF_MAPPING));
  assert.equal(report.status, 'completed', JSON.stringify(report.error));
  assert.equal(report.file.bom, true);
  assert.equal(report.counts.produced, 5);
  const apps = await applications(config, topology, report.counts.produced);
  assert.ok(apps.has('201810011823'), 'the BOM did not end up in the first column name');
  for (const app of apps.values()) assert.doesNotMatch(JSON.stringify(app), /\\r|\ufeff/);
});

test('symlinks, UTF-16 and binary files are refused with a message naming the file', async (t) => {
  const { env } = await importStack(t);
  const dir = tempDir(t);
  symlinkSync(SAMPLE, join(dir, 'link.csv'));
  writeFileSync(join(dir, 'utf16.csv'), Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('Permit Number\r\n1\r\n', 'utf16le')]));
  writeFileSync(join(dir, 'binary.csv'), Buffer.from([0x50, 0x4b, 0x03, 0x04, 0x00, 0x00, 0x08, 0x00]));
  for (const [name, message] of [
    ['link.csv', /link\.csv: is a symbolic link; symlinks are refused/],
    ['utf16.csv', /utf16\.csv: UTF-16 text/],
    ['binary.csv', /binary\.csv: contains NUL bytes/],
  ] as const) {
    const run = permitflow(t, ['import', join(dir, name), '--mapping', SF_MAPPING], env);
    const { code } = await run.exited;
    assert.equal(code, 1, run.output());
    assert.match(run.output(), message);
  }
});

/** Peak resident memory (VmHWM) of a running process, polled until it exits. */
function watchPeakRss(pid: number, exited: Promise<unknown>): Promise<number> {
  let peak = 0;
  const read = () => {
    try {
      const kb = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
      if (kb) peak = Math.max(peak, Number(kb) * 1024);
    } catch {
      // The process has gone; the last reading stands.
    }
  };
  const timer = setInterval(read, 50);
  return exited.then(() => {
    clearInterval(timer);
    return peak;
  });
}

test('a file larger than memory is streamed: peak memory does not grow with the file', async (t) => {
  // A capped heap makes V8 collect instead of growing lazily (old and young generation alike),
  // so RSS shows what the import really holds.
  const { env } = await importStack(t, { IMPORT_CHUNK_ROWS: '1000', NODE_OPTIONS: '--max-old-space-size=96 --max-semi-space-size=4' });
  const dir = tempDir(t);
  const peaks: { bytes: number; rows: number; peak: number }[] = [];
  for (const [name, size] of [['small.csv', 16], ['big.csv', 64]] as const) {
    const path = join(dir, name);
    const { rows, bytes } = await generateExport(path, { bytes: size * 2 ** 20 });
    const run = permitflow(t, ['import', path, '--mapping', SF_MAPPING], env);
    const peak = await watchPeakRss(run.child.pid!, run.exited);
    assert.equal((await run.exited).code, 0, run.output());
    assert.match(run.output(), new RegExp(`read ${rows.toLocaleString('en-US')} · produced ${rows.toLocaleString('en-US')}`));
    peaks.push({ bytes, rows, peak });
    t.diagnostic(`${name}: ${(bytes / 2 ** 20).toFixed(0)} MiB, ${rows} rows, peak RSS ${(peak / 2 ** 20).toFixed(0)} MiB`);
  }
  const [small, big] = peaks as [(typeof peaks)[0], (typeof peaks)[0]];
  // Four times the file: a held file would add at least the 48 MiB difference.
  assert.ok(big.peak - small.peak < (big.bytes - small.bytes) / 2, `peak RSS grew by ${((big.peak - small.peak) / 2 ** 20).toFixed(0)} MiB for ${((big.bytes - small.bytes) / 2 ** 20).toFixed(0)} MiB more file`);
});
