/**
 * Opens an export safely and learns what it is before a single row is produced: its identity
 * (SHA-256 of the content, which keys the import's checkpoint) and its encoding.
 *
 * Safety: a symlink is refused (checked with lstat, then opened with O_NOFOLLOW and compared by
 * inode, so a link swapped in between is refused too), and so is a hard link (more than one
 * name: it may be another name for a file outside the drop folder); only regular files are read; every later
 * read goes through the same file handle, so the bytes hashed are the bytes imported even if the
 * path is replaced meanwhile. The identity pass streams the file once (constant memory).
 *
 * Encoding: a UTF-8 BOM or content that is valid UTF-8 throughout is UTF-8. Content that is
 * UTF-8 in places (valid multi-byte sequences) and invalid in others is refused, naming the line
 * of the first invalid byte: it is a damaged or mixed-encoding export, and reading it as
 * Windows-1252 would turn every accent of its UTF-8 part into mojibake without a trace (and
 * reading it as UTF-8 would replace the bad bytes just as silently); the operator fixes one
 * line, or sets the encoding in the mapping. Anything else is handed to chardet, and
 * Windows-1252 (or ISO-8859-1, which legacy Windows exports claim while using 1252's
 * punctuation) is converted; other encodings, UTF-16 and binary files are refused with a
 * message saying what to do.
 */
import { createHash } from 'node:crypto';
import { constants, type Stats } from 'node:fs';
import { lstat, open, type FileHandle } from 'node:fs/promises';
import { basename } from 'node:path';
import chardet from 'chardet';
import { PermitflowError, type ErrorCode } from '../../lib/errors.ts';
import { sanitizeName } from '../../domain/names.ts';
import { countLines, hasMultibyte, incompleteTail, scanUtf8 } from './utf8.ts';

export type Encoding = 'utf-8' | 'windows-1252';
export type EncodingChoice = Encoding | 'auto';

export interface SourceFile {
  path: string;
  /** The file's base name, sanitised: what reports, dead letters and envelopes name it by. */
  name: string;
  handle: FileHandle;
  size: number;
  mtimeMs: number;
  sha256: string;
  encoding: Encoding;
  /** How the encoding was decided, for the report. */
  encodingReason: string;
  bom: boolean;
}

const READ_CHUNK = 256 * 1024;
const BINARY_PROBE = 8000;
const SAMPLE_BYTES = 64 * 1024;

function refuse(code: ErrorCode, message: string, cause?: unknown, line?: number): PermitflowError {
  return PermitflowError.permanent(code, message, { ...(cause !== undefined && { cause }), ...(line !== undefined && { context: { line } }) });
}

async function statOrRefuse(path: string): Promise<Stats> {
  try {
    return await lstat(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw refuse('PF_IMPORT_NOT_FOUND', `${path}: no such file`, err);
    if (code === 'EACCES' || code === 'EPERM') throw refuse('PF_IMPORT_UNREADABLE', `${path}: permission denied`, err);
    throw err;
  }
}

/** Opens `path` for reading, refusing symlinks and anything but a regular file. */
export async function openRegularFile(path: string): Promise<{ handle: FileHandle; stats: Stats }> {
  const before = await statOrRefuse(path);
  if (before.isSymbolicLink()) throw refuse('PF_IMPORT_SYMLINK', `${path}: is a symbolic link; symlinks are refused (copy the file instead)`);
  if (!before.isFile()) throw refuse('PF_IMPORT_NOT_A_FILE', `${path}: not a regular file`);
  if (before.nlink > 1) throw refuse('PF_IMPORT_HARDLINK', `${path}: has ${before.nlink} hard links; hard links are refused (copy the file instead)`);
  let handle: FileHandle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ELOOP') throw refuse('PF_IMPORT_SYMLINK', `${path}: became a symbolic link while opening; refused`, err);
    throw refuse('PF_IMPORT_UNREADABLE', `${path}: cannot be opened (${(err as Error).message})`, err);
  }
  const stats = await handle.stat();
  if (stats.ino !== before.ino || stats.dev !== before.dev || !stats.isFile()) {
    await handle.close();
    throw refuse('PF_IMPORT_SYMLINK', `${path}: was replaced while opening; refused`);
  }
  if (stats.nlink > 1) {
    await handle.close();
    throw refuse('PF_IMPORT_HARDLINK', `${path}: was hard-linked while opening; refused`);
  }
  return { handle, stats };
}

/** Where the content stops being UTF-8, and whether it is UTF-8 elsewhere. */
interface Utf8Verdict {
  /** A sample around the first invalid byte, for detection; null when the file is valid UTF-8. */
  firstInvalid: Buffer | null;
  /** Line (1-based) and byte offset of the first invalid byte. */
  invalidAt: { line: number; offset: number } | null;
  /** Whether the file holds valid multi-byte UTF-8 sequences (so invalid bytes mean damage, not Windows-1252). */
  multibyte: boolean;
}

/** One streaming pass: SHA-256, BOM, UTF-8 validity (where it first fails, and whether UTF-8 is used elsewhere), and samples for detection. */
async function scan(handle: FileHandle, size: number): Promise<{ sha256: string; head: Buffer } & Utf8Verdict> {
  const hash = createHash('sha256');
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let head = Buffer.alloc(0);
  const verdict: Utf8Verdict = { firstInvalid: null, invalidAt: null, multibyte: false };
  let invalidOffset: number | null = null;
  let offset = 0;
  let carried: Uint8Array = new Uint8Array(0);
  const stream = handle.createReadStream({ start: 0, end: size - 1, autoClose: false, highWaterMark: READ_CHUNK });
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    hash.update(chunk);
    if (head.length < SAMPLE_BYTES) head = Buffer.concat([head, chunk.subarray(0, SAMPLE_BYTES - head.length)]);
    if (verdict.firstInvalid === null) {
      try {
        // Fewer characters than bytes: a multi-byte sequence was decoded (or is pending).
        if (decoder.decode(chunk, { stream: true }).length !== chunk.length) verdict.multibyte = true;
      } catch {
        // Find the byte, with the start of a sequence the previous chunk left open.
        const joined = Buffer.concat([carried, chunk]);
        const found = scanUtf8(joined);
        const at = Math.max(0, found.firstInvalid - carried.length);
        if (found.multibyte > 0) verdict.multibyte = true;
        verdict.firstInvalid = Buffer.from(chunk.subarray(0, SAMPLE_BYTES));
        invalidOffset = offset + at;
      }
      carried = incompleteTail(chunk);
    } else if (!verdict.multibyte && hasMultibyte(chunk)) {
      verdict.multibyte = true;
    }
    offset += chunk.length;
  }
  if (verdict.firstInvalid === null) {
    try {
      decoder.decode();
    } catch {
      // The file ends inside a multi-byte sequence.
      verdict.firstInvalid = head;
      invalidOffset = size - carried.length;
    }
  }
  // The line is counted only for a file that has one: a second read of the bytes before it.
  if (invalidOffset !== null) verdict.invalidAt = { line: (await linesBefore(handle, invalidOffset)) + 1, offset: invalidOffset };
  return { sha256: hash.digest('hex'), head, ...verdict };
}

/** Line feeds in the first `end` bytes of the file. */
async function linesBefore(handle: FileHandle, end: number): Promise<number> {
  if (end === 0) return 0;
  let lines = 0;
  const stream = handle.createReadStream({ start: 0, end: end - 1, autoClose: false, highWaterMark: READ_CHUNK });
  for await (const chunk of stream as AsyncIterable<Buffer>) lines += countLines(chunk);
  return lines;
}

function decideEncoding(path: string, choice: EncodingChoice, head: Buffer, { firstInvalid, invalidAt, multibyte }: Utf8Verdict): { encoding: Encoding; reason: string; bom: boolean } {
  const bom = head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf;
  if ((head[0] === 0xff && head[1] === 0xfe) || (head[0] === 0xfe && head[1] === 0xff)) {
    throw refuse('PF_IMPORT_ENCODING', `${path}: UTF-16 text (byte-order mark ${head[0] === 0xff ? 'FF FE' : 'FE FF'}); export as UTF-8 or Windows-1252`);
  }
  if (head.subarray(0, BINARY_PROBE).includes(0)) {
    throw refuse('PF_IMPORT_BINARY', `${path}: contains NUL bytes in its first ${BINARY_PROBE} bytes: a binary file (or UTF-16 without a byte-order mark), not a text export`);
  }
  if (choice === 'windows-1252') {
    if (bom) throw refuse('PF_IMPORT_ENCODING', `${path}: starts with a UTF-8 byte-order mark but the mapping says windows-1252`);
    return { encoding: 'windows-1252', reason: 'set by the mapping', bom: false };
  }
  if (firstInvalid === null) return { encoding: 'utf-8', reason: bom ? 'UTF-8 byte-order mark' : choice === 'utf-8' ? 'set by the mapping' : 'valid UTF-8 throughout', bom };
  const where = invalidAt ? `:${invalidAt.line}` : '';
  const byte = invalidAt ? ` (byte offset ${invalidAt.offset})` : '';
  if (choice === 'utf-8' || bom) {
    throw refuse('PF_IMPORT_ENCODING', `${path}${where}: is not valid UTF-8${bom ? ' although it starts with a UTF-8 byte-order mark' : ' (the mapping says utf-8)'}: the first invalid byte is on this line${byte}`, undefined, invalidAt?.line);
  }
  if (multibyte) {
    throw refuse(
      'PF_IMPORT_ENCODING',
      `${path}${where}: is UTF-8 but for invalid bytes, the first on this line${byte}: a damaged or mixed-encoding export, refused rather than mis-decoded; fix that line (and any after it), or set encoding: windows-1252 in the mapping if the file really is Windows-1252`,
      undefined,
      invalidAt?.line,
    );
  }
  const detected = chardet.detect(firstInvalid);
  if (detected === 'windows-1252' || detected === 'ISO-8859-1') {
    return { encoding: 'windows-1252', reason: `not UTF-8; detected ${detected}`, bom: false };
  }
  throw refuse(
    'PF_IMPORT_ENCODING',
    `${path}: is not UTF-8 and looks like ${detected ?? 'no known encoding'}; only UTF-8 and Windows-1252 are read: convert the export, or set encoding in the mapping`,
  );
}

/** Opens and inspects an export; the caller closes `handle`. */
export async function openSource(path: string, choice: EncodingChoice = 'auto'): Promise<SourceFile> {
  const { handle, stats } = await openRegularFile(path);
  try {
    if (stats.size === 0) throw refuse('PF_IMPORT_EMPTY', `${path}: is empty`);
    const { sha256, head, ...verdict } = await scan(handle, stats.size);
    const after = await handle.stat();
    if (after.size !== stats.size || after.mtimeMs !== stats.mtimeMs) {
      throw PermitflowError.retriable('PF_IMPORT_CHANGING', `${path}: changed while being read (still being uploaded?)`);
    }
    const { encoding, reason, bom } = decideEncoding(path, choice, head, verdict);
    return { path, name: sanitizeName(basename(path)), handle, size: stats.size, mtimeMs: stats.mtimeMs, sha256, encoding, encodingReason: reason, bom };
  } catch (err) {
    await handle.close();
    throw err;
  }
}
