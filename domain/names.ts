/**
 * File names that come from outside (an SFTP client chooses them) and end up in paths, report
 * files, dead letters and envelopes. A name is used only when it is one plain path component of
 * printable characters; anything else (`..`, separators of either OS, control characters, a
 * leading dot or dash that hides a file or reads as an option) is refused, and a refused file is
 * quarantined under a sanitised name.
 */
import { basename, dirname, join, resolve, sep } from 'node:path';
import { PermitflowError } from '../lib/errors.ts';

const MAX_NAME = 200;
// Printable, no path separators of any OS, no characters Windows forbids in names.
const SAFE = /^[^\\/:*?"<>|\p{Cc}\p{Cf}\p{Zl}\p{Zp}]+$/u;

/** Why a file name is unsafe to use, or null when it is fine. */
export function unsafeNameReason(name: string): string | null {
  if (name.length === 0) return 'empty name';
  if (name.length > MAX_NAME) return `name longer than ${MAX_NAME} characters`;
  if (name === '.' || name === '..') return 'name is a relative directory (path traversal)';
  // Once separators are refused, ".." inside a name cannot climb out of the folder.
  if (!SAFE.test(name)) return 'name contains a path separator (path traversal), a control character or a character reserved on Windows';
  if (name.startsWith('.') || name.startsWith('-')) return 'name starts with "." or "-"';
  if (name !== name.trim()) return 'name starts or ends with white space';
  return null;
}

/** A name safe to use in paths and reports, derived from any name (for quarantined files). */
export function sanitizeName(name: string): string {
  const cleaned = name
    .replace(/[\\/:*?"<>|\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu, '_')
    .replace(/^[.\-\s]+/, '_')
    .trim()
    .slice(0, MAX_NAME);
  return cleaned.length > 0 ? cleaned : 'unnamed';
}

/** `dir/name`, refusing any name that would land outside `dir`. */
export function childPath(dir: string, name: string): string {
  const reason = unsafeNameReason(name);
  if (reason) throw PermitflowError.permanent('PF_IMPORT_UNSAFE_NAME', `refusing file name ${JSON.stringify(name)}: ${reason}`);
  const path = join(dir, name);
  // Defence in depth: the check above already rules out anything that could escape.
  if (dirname(resolve(path)) !== resolve(dir) || basename(path) !== name) {
    throw PermitflowError.permanent('PF_IMPORT_UNSAFE_NAME', `refusing file name ${JSON.stringify(name)}: it resolves outside ${dir}${sep}`);
  }
  return path;
}
