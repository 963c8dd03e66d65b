/**
 * Streams the records of an export from a byte offset: CSV through csv-parse, JSON Lines through
 * a byte-level line splitter. Memory is bounded by the stream buffers and the longest record
 * (IMPORT_MAX_RECORD_BYTES), never by the file.
 *
 * Every record carries the physical line it starts on and the byte offset just past it, which
 * is what a checkpoint records: resuming at that offset yields exactly the records after it.
 * Lines are counted here rather than taken from csv-parse, whose counter counts a CRLF inside a
 * quoted field twice: a record spans one line plus the line feeds inside its fields, and the
 * empty lines csv-parse skipped before it.
 *
 * Windows-1252 is parsed as latin1 (both are single-byte and ASCII-compatible, so delimiters,
 * quotes and offsets are exact) and the 0x80-0x9F range, where they differ (curly quotes, dashes,
 * the euro sign), is then decoded with iconv-lite.
 *
 * Row-level problems (wrong field count, a JSON line that does not parse) are yielded as bad
 * items and the stream goes on. A CSV structure that cannot be split into records any more (a
 * quote never closed, a record longer than the limit) throws PF_IMPORT_UNREADABLE naming the line.
 */
import { parse, type CsvError } from 'csv-parse';
import { finished } from 'node:stream/promises';
import iconv from 'iconv-lite';
import { PermitflowError } from '../../lib/errors.ts';
import type { Cells } from './mapper.ts';
import type { Encoding, SourceFile } from './source.ts';

export interface Position {
  /** Byte offset of the next record. */
  offset: number;
  /** Physical lines before `offset`. */
  line: number;
}

interface ItemBase {
  /** Line the record starts on (1-based). */
  line: number;
  /** Where the next record starts: byte offset and lines consumed. */
  next: Position;
  /** The record's text, for dead letters. */
  raw: string;
}

export type SourceItem =
  | (ItemBase & { kind: 'header'; columns: string[] })
  | (ItemBase & { kind: 'row'; cells: Cells })
  | (ItemBase & { kind: 'bad'; errorClass: string; message: string });

export interface ReadOptions {
  from: Position;
  maxRecordBytes: number;
  signal?: AbortSignal;
}

const C1 = /[\u0080-\u009f]/;

/** Fixes up a latin1-decoded string to Windows-1252 (they differ only in 0x80-0x9F). */
function fromLatin1(text: string): string {
  return C1.test(text) ? iconv.decode(Buffer.from(text, 'latin1'), 'win1252') : text;
}

const isLineBreak = (code: number) => code === 0x0a || code === 0x0d;

/** The record's text without the line breaks around it (a slice, where two regexes scanned the whole record). */
function trimLineBreaks(raw: string): string {
  let start = 0;
  let end = raw.length;
  while (start < end && isLineBreak(raw.charCodeAt(start))) start++;
  while (end > start && isLineBreak(raw.charCodeAt(end - 1))) end--;
  return start === 0 && end === raw.length ? raw : raw.slice(start, end);
}

function countLineFeeds(text: string): number {
  let n = 0;
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) n++;
  return n;
}

function unreadable(file: string, line: number, message: string, cause?: unknown): PermitflowError {
  return PermitflowError.permanent('PF_IMPORT_UNREADABLE', `${file}:${line}: ${message}`, { context: { file, line }, ...(cause !== undefined && { cause }) });
}

export interface CsvOptions extends ReadOptions {
  delimiter: string;
  quote: string;
  /** Column names; null when the first record is the header. */
  columns: string[] | null;
}

interface Parsed {
  record: string[];
  raw: string;
  info: { bytes: number; empty_lines: number };
}

/** A row's cells by column name: a factory, so no per-row function is named (tsx's keepNames wraps each one). */
function csvCells(index: Map<string, number>, fields: string[]): Cells {
  return (c) => {
    const i = index.get(c);
    return i === undefined ? null : fields[i]!;
  };
}

export async function* readCsv(source: SourceFile, options: CsvOptions): AsyncGenerator<SourceItem> {
  const { from, maxRecordBytes } = options;
  // A run interrupted after its last chunk resumes at the very end: nothing left to read.
  if (from.offset >= source.size) return;
  const latin1 = source.encoding === 'windows-1252';
  const decode = latin1 ? fromLatin1 : (s: string) => s;
  // Records are taken in on_record, synchronously as each input chunk is written, rather than
  // read from the parser's stream: a stream that fails drops the records it still buffers, and
  // the rows before a structural error are good rows that must be imported.
  const parsed: Parsed[] = [];
  let failure: unknown = null;
  const parser = parse({
    delimiter: options.delimiter,
    quote: options.quote,
    bom: from.offset === 0,
    encoding: latin1 ? 'latin1' : 'utf8',
    info: true,
    raw: true,
    relax_column_count: true,
    relax_quotes: true,
    skip_empty_lines: true,
    max_record_size: maxRecordBytes,
    on_record: (record: unknown) => {
      parsed.push(record as Parsed);
      return null;
    },
  });
  parser.on('error', (err) => {
    failure ??= err;
  });
  const stream = source.handle.createReadStream({ start: from.offset, end: source.size - 1, autoClose: false, highWaterMark: 64 * 1024, signal: options.signal });

  let columns = options.columns;
  let index = new Map(columns?.map((c, i) => [c, i]) ?? []);
  let consumed = from.line;
  let emptyLines = 0;

  function* drain(): Generator<SourceItem> {
    for (const { record, raw, info } of parsed.splice(0)) {
      const line = consumed + (info.empty_lines - emptyLines) + 1;
      emptyLines = info.empty_lines;
      const fields = latin1 ? record.map(decode) : record;
      consumed = line;
      for (const f of fields) consumed += countLineFeeds(f);
      const next = { offset: from.offset + info.bytes, line: consumed };
      const text = decode(trimLineBreaks(raw));
      if (columns === null) {
        const names = fields.map((f) => f.trim());
        const duplicate = names.find((n, i) => names.indexOf(n) !== i);
        if (names.some((n) => n.length === 0)) throw unreadable(source.name, line, 'the header row has an empty column name');
        if (duplicate !== undefined) throw unreadable(source.name, line, `the header row names column ${JSON.stringify(duplicate)} twice`);
        columns = names;
        index = new Map(names.map((c, i) => [c, i]));
        yield { kind: 'header', columns, line, next, raw: text };
      } else if (fields.length !== columns.length) {
        yield { kind: 'bad', errorClass: 'PF_IMPORT_FIELD_COUNT', message: `has ${fields.length} fields, the header has ${columns.length}`, line, next, raw: text };
      } else {
        yield { kind: 'row', cells: csvCells(index, fields), line, next, raw: text };
      }
    }
  }

  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      parser.write(chunk);
      yield* drain();
      if (failure) break;
    }
    if (!failure) {
      parser.end();
      await finished(parser, { readable: false }).catch(() => undefined);
      yield* drain();
    }
  } finally {
    stream.destroy();
    parser.destroy();
  }
  if (failure) {
    const code = (failure as CsvError).code;
    const at = consumed + 1;
    if (code === 'CSV_QUOTE_NOT_CLOSED') throw unreadable(source.name, at, 'a quoted field in the record starting here is never closed (the file ends inside it)', failure);
    if (code === 'CSV_MAX_RECORD_SIZE') throw unreadable(source.name, at, `the record starting here is longer than ${maxRecordBytes} bytes (IMPORT_MAX_RECORD_BYTES): most likely a quote that is never closed`, failure);
    // The parser's code, not its message: csv-parse quotes the field it stopped in.
    throw unreadable(source.name, at, `the CSV parser stopped here (${code ?? 'unknown error'})`, failure);
  }
}

function cellsOf(object: Record<string, unknown>): Cells {
  return (column) => {
    let value: unknown = object;
    if (column.startsWith('/')) {
      for (const part of column.slice(1).split('/')) value = value !== null && typeof value === 'object' ? (value as Record<string, unknown>)[part.replaceAll('~1', '/').replaceAll('~0', '~')] : undefined;
    } else value = object[column];
    if (value === undefined || value === null) return null;
    if (typeof value === 'string') return value;
    if (typeof value === 'number' || typeof value === 'boolean') return String(value);
    return JSON.stringify(value);
  };
}

function jsonlItem(bytes: Buffer, encoding: Encoding, line: number, next: Position, first: boolean): SourceItem | null {
  let text = encoding === 'utf-8' ? bytes.toString('utf8') : iconv.decode(bytes, 'win1252');
  if (first && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  text = text.replace(/\r$/, '');
  if (text.trim().length === 0) return null;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    // Not V8's message: it quotes the line.
    return { kind: 'bad', errorClass: 'PF_IMPORT_BAD_JSON', message: 'is not JSON', line, next, raw: text };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return { kind: 'bad', errorClass: 'PF_IMPORT_BAD_JSON', message: 'is not a JSON object', line, next, raw: text };
  }
  return { kind: 'row', cells: cellsOf(value as Record<string, unknown>), line, next, raw: text };
}

/** JSON Lines: one object per line; keys are the columns (`/a/b` reaches nested values). */
export async function* readJsonl(source: SourceFile, options: ReadOptions): AsyncGenerator<SourceItem> {
  const { from, maxRecordBytes } = options;
  if (from.offset >= source.size) return;
  const stream = source.handle.createReadStream({ start: from.offset, end: source.size - 1, autoClose: false, highWaterMark: 64 * 1024, signal: options.signal });
  let parts: Buffer[] = [];
  let length = 0;
  let tooLong = false;
  let offset = from.offset;
  let line = from.line;

  function* finish(end: number): Generator<SourceItem> {
    line++;
    const next = { offset: end, line };
    if (tooLong) {
      const head = Buffer.concat(parts).subarray(0, 1024).toString('utf8');
      yield { kind: 'bad', errorClass: 'PF_IMPORT_RECORD_TOO_LONG', message: `is longer than ${maxRecordBytes} bytes (IMPORT_MAX_RECORD_BYTES)`, line, next, raw: head };
    } else {
      const item = jsonlItem(Buffer.concat(parts, length), source.encoding, line, next, next.line === 1);
      if (item) yield item;
    }
    parts = [];
    length = 0;
    tooLong = false;
  }

  for await (const chunk of stream as AsyncIterable<Buffer>) {
    let start = 0;
    for (let nl = chunk.indexOf(0x0a); nl !== -1; nl = chunk.indexOf(0x0a, start)) {
      if (!tooLong) parts.push(chunk.subarray(start, nl));
      length += nl - start;
      tooLong ||= length > maxRecordBytes;
      yield* finish(offset + nl + 1);
      start = nl + 1;
    }
    // Keep at most the limit (plus a head for the dead letter) of an overlong line.
    if (!tooLong && start < chunk.length) parts.push(Buffer.from(chunk.subarray(start)));
    length += chunk.length - start;
    if (length > maxRecordBytes && !tooLong) {
      tooLong = true;
      parts = [Buffer.concat(parts).subarray(0, 1024)];
    }
    offset += chunk.length;
  }
  if (length > 0) yield* finish(offset);
}
