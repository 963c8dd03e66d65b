/**
 * Writes a large synthetic export in the SF DBI layout, streaming (constant memory).
 *
 * Usage: node --import tsx bench/import/generate.ts <rows | size like 1GB> [out.csv]
 * Default output: /tmp/permitflow-export-<rows>.csv. Prints the path, rows and bytes.
 */
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { HEADER, syntheticRow } from './synthetic.ts';

/** Writes rows until `rows` rows or `bytes` bytes, whichever is given; returns what was written. */
export async function generateExport(out: string, limit: { rows?: number; bytes?: number }): Promise<{ rows: number; bytes: number }> {
  const stream = createWriteStream(out, { highWaterMark: 1 << 20 });
  let bytes = Buffer.byteLength(HEADER) + 1;
  stream.write(`${HEADER}\n`);
  let rows = 0;
  let batch: string[] = [];
  const flush = async () => {
    const text = batch.join('');
    batch = [];
    if (!stream.write(text)) await once(stream, 'drain');
  };
  while ((limit.rows === undefined || rows < limit.rows) && (limit.bytes === undefined || bytes < limit.bytes)) {
    const line = `${syntheticRow(rows)}\n`;
    batch.push(line);
    bytes += Buffer.byteLength(line);
    rows++;
    if (batch.length === 1000) await flush();
  }
  await flush();
  stream.end();
  await once(stream, 'finish');
  return { rows, bytes };
}

function parseLimit(arg: string): { rows?: number; bytes?: number } {
  const size = /^(\d+(?:\.\d+)?)\s*(KB|MB|GB)$/i.exec(arg);
  if (size) return { bytes: Math.round(Number(size[1]) * 1024 ** { KB: 1, MB: 2, GB: 3 }[size[2]!.toUpperCase() as 'KB' | 'MB' | 'GB']) };
  const rows = Number(arg);
  if (!Number.isInteger(rows) || rows <= 0) throw new Error(`expected a row count or a size such as 1GB, got ${arg}`);
  return { rows };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [arg, out] = process.argv.slice(2);
  if (!arg) {
    console.error('usage: generate.ts <rows | size like 1GB> [out.csv]');
    process.exit(1);
  }
  const path = out ?? `/tmp/permitflow-export-${arg}.csv`;
  const written = await generateExport(path, parseLimit(arg));
  console.log(JSON.stringify({ path, ...written }));
}
