/**
 * The baseline of the import benchmark: csv-parse alone streaming the same file, counting
 * records (default options: what "the CSV parser reading the file" costs, nothing else).
 * Prints {rows, ms, peakRssBytes} as JSON.
 *
 * Usage: node --import tsx bench/import/parse-only.ts <file.csv>
 */
import { createReadStream } from 'node:fs';
import { parse } from 'csv-parse';

const file = process.argv[2];
if (!file) {
  console.error('usage: parse-only.ts <file.csv>');
  process.exit(1);
}
const started = performance.now();
let rows = 0;
for await (const record of createReadStream(file, { highWaterMark: 64 * 1024 }).pipe(parse())) {
  if (record) rows++;
}
const ms = performance.now() - started;
console.log(JSON.stringify({ rows: rows - 1, ms: Math.round(ms), peakRssBytes: process.resourceUsage().maxRSS * 1024 }));
