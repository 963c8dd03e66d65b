/**
 * Where a file stops being UTF-8: TextDecoder says whether a buffer is valid, not where it is
 * not, nor whether the valid part used UTF-8's multi-byte sequences at all. The importer needs
 * both to tell a Windows-1252 export (no valid multi-byte sequence, its accents are invalid
 * UTF-8) from a UTF-8 export with a few damaged bytes (valid multi-byte sequences AND invalid
 * bytes), which decoded as Windows-1252 would turn every accent into mojibake, silently.
 */

export interface Utf8Scan {
  /** Offset of the first byte that starts no valid sequence, or -1. */
  firstInvalid: number;
  /** Valid multi-byte sequences seen before `firstInvalid` (or in the whole range when valid). */
  multibyte: number;
}

/** Length of the valid sequence at `i`, or 0 when none starts there (the rules of RFC 3629: no overlongs, surrogates or code points past U+10FFFF). */
function sequenceAt(buf: Uint8Array, i: number): number {
  const b = buf[i]!;
  const cont = (k: number, lo = 0x80, hi = 0xbf) => i + k < buf.length && buf[i + k]! >= lo && buf[i + k]! <= hi;
  if (b >= 0xc2 && b <= 0xdf) return cont(1) ? 2 : 0;
  if (b === 0xe0) return cont(1, 0xa0) && cont(2) ? 3 : 0;
  if ((b >= 0xe1 && b <= 0xec) || b === 0xee || b === 0xef) return cont(1) && cont(2) ? 3 : 0;
  if (b === 0xed) return cont(1, 0x80, 0x9f) && cont(2) ? 3 : 0;
  if (b === 0xf0) return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
  if (b >= 0xf1 && b <= 0xf3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
  if (b === 0xf4) return cont(1, 0x80, 0x8f) && cont(2) && cont(3) ? 4 : 0;
  return 0;
}

/**
 * Scans `buf` from `start` until the first invalid byte. A sequence cut by the end of `buf` is
 * not invalid (the next chunk completes it): the caller passes chunks that begin on a sequence
 * boundary, or a `start` past the continuation bytes of a sequence the previous chunk began.
 */
export function scanUtf8(buf: Uint8Array, start = 0): Utf8Scan {
  let multibyte = 0;
  let i = start;
  while (i < buf.length) {
    if (buf[i]! < 0x80) {
      i++;
      continue;
    }
    const length = sequenceAt(buf, i);
    if (length === 0) {
      // Only a prefix cut by the end of the buffer is not (yet) invalid.
      if (couldBePrefix(buf, i)) break;
      return { firstInvalid: i, multibyte };
    }
    multibyte++;
    i += length;
  }
  return { firstInvalid: -1, multibyte };
}

/** Whether buf[i..] is the start of a valid sequence that the end of the buffer cuts short. */
function couldBePrefix(buf: Uint8Array, i: number): boolean {
  const padded = new Uint8Array(4);
  const tail = buf.subarray(i);
  if (tail.length >= 4) return false;
  padded.set(tail);
  // Complete it with the smallest continuation bytes the lead allows and check it then.
  const lead = tail[0]!;
  const second = lead === 0xe0 ? 0xa0 : lead === 0xf0 ? 0x90 : 0x80;
  for (let k = tail.length; k < 4; k++) padded[k] = k === 1 ? second : 0x80;
  const length = sequenceAt(padded, 0);
  return length > tail.length;
}

/** Number of continuation bytes (at most 3) at the start of `buf`: the tail of a sequence begun before it. */
export function leadingContinuations(buf: Uint8Array): number {
  let n = 0;
  while (n < 3 && n < buf.length && buf[n]! >= 0x80 && buf[n]! <= 0xbf) n++;
  return n;
}

/** Lines (LF) in buf[0..end). */
export function countLines(buf: Buffer, end = buf.length): number {
  let n = 0;
  for (let i = buf.indexOf(10, 0); i !== -1 && i < end; i = buf.indexOf(10, i + 1)) n++;
  return n;
}

/** The start of a sequence that the end of `buf` cuts short (0 to 3 bytes): the next chunk completes it. */
export function incompleteTail(buf: Uint8Array): Uint8Array {
  for (let k = Math.min(3, buf.length); k >= 1; k--) {
    const i = buf.length - k;
    if (buf[i]! >= 0xc2 && couldBePrefix(buf, i)) return buf.subarray(i);
  }
  return buf.subarray(buf.length);
}

/** Whether `buf` holds at least one valid multi-byte sequence, wherever (invalid bytes skipped). */
export function hasMultibyte(buf: Uint8Array): boolean {
  for (let i = 0; i < buf.length; i++) {
    if (buf[i]! >= 0xc2 && sequenceAt(buf, i) > 0) return true;
  }
  return false;
}
