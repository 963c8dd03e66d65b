/**
 * Opens an export safely and learns what it is before a single row is produced: its identity
 * (SHA-256 of the content, which keys the import's checkpoint) and its encoding.
 *
 * Safety: a symlink is refused (checked with lstat, then opened with O_NOFOLLOW and compared by
 * inode, so a link swapped in between is refused too); only regular files are read; every later
 * read goes through the same file handle, so the bytes hashed are the bytes imported even if the
 * path is replaced meanwhile. The identity pass streams the file once (constant memory).
 *
 * Encoding: a UTF-8 BOM or content that is valid UTF-8 throughout is UTF-8; anything else is
 * handed to chardet, and Windows-1252 (or ISO-8859-1, which legacy Windows exports claim while
 * using 1252's punctuation) is converted; other encodings, UTF-16 and binary files are refused
 * with a message saying what to do.
 */
import { createHash } from 'node:crypto';
import { constants, type Stats } from 'node:fs';
import { lstat, open, type FileHandle } from 'node:fs/promises';
import { basename } from 'node:path';
import chardet from 'chardet';
import { PermitflowError } from '../../lib/errors.ts';
import { sanitizeName } from './names.ts';

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

function refuse(code: string, message: string, cause?: unknown): PermitflowError {
  return PermitflowError.permanent(code, message, cause === undefined ? {} : { cause });
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
  return { handle, stats };
}

/** One streaming pass: SHA-256, BOM, UTF-8 validity, and samples for detection. */
async function scan(handle: FileHandle, size: number): Promise<{ sha256: string; head: Buffer; firstInvalid: Buffer | null }> {
  const hash = createHash('sha256');
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let head = Buffer.alloc(0);
  let firstInvalid: Buffer | null = null;
  const stream = handle.createReadStream({ start: 0, end: size - 1, autoClose: false, highWaterMark: READ_CHUNK });
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    hash.update(chunk);
    if (head.length < SAMPLE_BYTES) head = Buffer.concat([head, chunk.subarray(0, SAMPLE_BYTES - head.length)]);
    if (firstInvalid === null) {
      try {
        decoder.decode(chunk, { stream: true });
      } catch {
        firstInvalid = Buffer.from(chunk.subarray(0, SAMPLE_BYTES));
      }
    }
  }
  if (firstInvalid === null) {
    try {
      decoder.decode();
    } catch {
      // The file ends inside a multi-byte sequence.
      firstInvalid = head;
    }
  }
  return { sha256: hash.digest('hex'), head, firstInvalid };
}

function decideEncoding(path: string, choice: EncodingChoice, head: Buffer, firstInvalid: Buffer | null): { encoding: Encoding; reason: string; bom: boolean } {
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
  if (choice === 'utf-8' || bom) {
    throw refuse('PF_IMPORT_ENCODING', `${path}: is not valid UTF-8${bom ? ' although it starts with a UTF-8 byte-order mark' : ' (the mapping says utf-8)'}`);
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
    const { sha256, head, firstInvalid } = await scan(handle, stats.size);
    const after = await handle.stat();
    if (after.size !== stats.size || after.mtimeMs !== stats.mtimeMs) {
      throw PermitflowError.retriable('PF_IMPORT_CHANGING', `${path}: changed while being read (still being uploaded?)`);
    }
    const { encoding, reason, bom } = decideEncoding(path, choice, head, firstInvalid);
    return { path, name: sanitizeName(basename(path)), handle, size: stats.size, mtimeMs: stats.mtimeMs, sha256, encoding, encodingReason: reason, bom };
  } catch (err) {
    await handle.close();
    throw err;
  }
}
