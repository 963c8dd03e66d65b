/**
 * Drop-folder watcher: takes the files an SFTP server writes into an inbox, one at a time, once
 * they are complete, imports each, and moves it to the archive folder (imported, bad rows and
 * all) or the quarantine folder (unreadable, or refused: symlinks, hard links, unsafe names),
 * with a `<file>.report.json` beside it.
 *
 * The archive and quarantine live OUTSIDE the inbox (by default beside it: `<inbox>.archive`,
 * `<inbox>.quarantine`): whoever can write to the inbox could otherwise replace them with a
 * symlink and have the watcher move files, and write reports, wherever it points. Each is
 * checked at start (a real folder, not a symlink, not inside the inbox) and again, by identity,
 * before every move.
 *
 * Complete means: its `<name>.done` marker exists, or (unless FILE_DROP_REQUIRE_MARKER) its size
 * and mtime have not changed across polls for FILE_DROP_STABLE_MS. The watcher observes the
 * stability itself rather than trusting mtime, which SFTP clients may preserve from the source.
 * It lists the folder on a timer instead of relying on inotify, which misses changes on network
 * and FUSE file systems that SFTP chroots often sit on.
 *
 * Skipped: dot files and the usual in-progress upload names (`*.part`, `*.filepart`, `*.tmp`,
 * `*~`), sub-folders, and `.done` markers themselves. A file whose import fails for an
 * infrastructure reason (Kafka down) stays in the inbox and is tried again later: only the
 * file's own faults quarantine it. Stopping interrupts the import in hand at a chunk boundary;
 * the file stays and resumes from its checkpoint next time.
 */
import type { Stats } from 'node:fs';
import { mkdir, readdir, realpath, rename, rm, lstat, writeFile } from 'node:fs/promises';
import { join, resolve, sep } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { PermitflowError } from '../../lib/errors.ts';
import type { Logger } from '../../lib/logger.ts';
import type { ImportReport } from './importer.ts';
import { childPath, sanitizeName, unsafeNameReason } from '../../domain/names.ts';
import { formatSummary } from './report.ts';

export type WatcherEvent =
  | { type: 'archived' | 'quarantined'; name: string; path: string; report: ImportReport | null; reason: string | null }
  | { type: 'deferred'; name: string; error: string }
  /** Seen but not complete yet (size changed, or no marker while one is required). */
  | { type: 'waiting'; name: string; size: number };

export interface WatcherOptions {
  inbox: string;
  /** Where imported files go; outside the inbox (default `<inbox>.archive`, beside it). */
  archive?: string;
  /** Where refused and unreadable files go; outside the inbox (default `<inbox>.quarantine`). */
  quarantine?: string;
  pollMs: number;
  stableMs: number;
  requireMarker: boolean;
  importFile(path: string, signal: AbortSignal): Promise<ImportReport>;
  logger: Logger;
  onEvent?: (event: WatcherEvent) => void;
  clock?: () => number;
}

export interface Watcher {
  stop(): Promise<void>;
  /** Settles when the watcher has stopped. */
  done: Promise<void>;
}

const IN_PROGRESS = /(\.part|\.filepart|\.tmp|\.partial|~)$/i;
const MARKER = '.done';

interface Observed {
  size: number;
  mtimeMs: number;
  since: number;
  /** After an infrastructure failure, not before this time. */
  retryAt?: number;
  failures?: number;
}

/** The default archive and quarantine folders of an inbox: beside it, named after it. */
export function defaultFolders(inbox: string): { archive: string; quarantine: string } {
  const base = resolve(inbox);
  return { archive: `${base}.archive`, quarantine: `${base}.quarantine` };
}

const unsafeFolder = (message: string) => PermitflowError.permanent('PF_FILE_DROP_UNSAFE_FOLDER', message);

/** Creates `dir` if needed and returns its identity; refuses a symlink, a non-folder, or a folder inside the inbox. */
async function outsideFolder(dir: string, what: string, inboxReal: string): Promise<Stats> {
  await mkdir(dir, { recursive: true, mode: 0o750 });
  const stats = await lstat(dir);
  if (stats.isSymbolicLink()) throw unsafeFolder(`the ${what} folder ${dir} is a symbolic link; refused (files would be moved wherever it points)`);
  if (!stats.isDirectory()) throw unsafeFolder(`the ${what} folder ${dir} is not a folder`);
  const real = await realpath(dir);
  if (real === inboxReal || real.startsWith(`${inboxReal}${sep}`)) {
    throw unsafeFolder(`the ${what} folder ${dir} is inside the inbox ${inboxReal}, which uploaders can write to: put it beside the inbox`);
  }
  return stats;
}

export async function watchInbox(options: WatcherOptions): Promise<Watcher> {
  const { inbox, logger } = options;
  const clock = options.clock ?? Date.now;
  const defaults = defaultFolders(inbox);
  const archive = resolve(options.archive ?? defaults.archive);
  const quarantine = resolve(options.quarantine ?? defaults.quarantine);
  const inboxReal = await realpath(inbox);
  const identities = new Map<string, Stats>([
    [archive, await outsideFolder(archive, 'archive', inboxReal)],
    [quarantine, await outsideFolder(quarantine, 'quarantine', inboxReal)],
  ]);
  const observed = new Map<string, Observed>();
  const controller = new AbortController();

  /** A destination name in `dir` that nothing else has: a UTC timestamp prefix, then a counter. */
  async function destination(dir: string, name: string): Promise<string> {
    const stamp = new Date(clock()).toISOString().replace(/[:.]/g, '-');
    for (let i = 0; ; i++) {
      const candidate = childPath(dir, `${stamp}${i > 0 ? `-${i}` : ''}_${name}`);
      try {
        await lstat(candidate);
      } catch {
        return candidate;
      }
    }
  }

  /** The folder is still the one checked at start: not swapped for a symlink or another folder since. */
  async function sameFolder(dir: string): Promise<void> {
    const now = await lstat(dir).catch(() => null);
    const then = identities.get(dir)!;
    if (!now || now.isSymbolicLink() || !now.isDirectory() || now.ino !== then.ino || now.dev !== then.dev) {
      throw unsafeFolder(`the folder ${dir} was replaced since the watcher started; nothing is moved into it`);
    }
  }

  async function move(name: string, dir: string, type: 'archived' | 'quarantined', report: ImportReport | null, reason: string | null): Promise<void> {
    await sameFolder(dir);
    const target = await destination(dir, sanitizeName(name));
    await rename(join(inbox, name), target);
    await rm(join(inbox, `${name}${MARKER}`), { force: true });
    const body = { originalName: name, movedTo: target, reason, summary: report ? formatSummary(report) : reason, report };
    await writeFile(`${target}.report.json`, `${JSON.stringify(body, null, 2)}\n`, { flag: 'wx' });
    observed.delete(name);
    logger.info({ file: sanitizeName(name), to: target, status: report?.status ?? 'refused' }, `file ${type}`);
    options.onEvent?.({ type, name, path: target, report, reason });
  }

  async function take(name: string): Promise<void> {
    let report: ImportReport;
    try {
      report = await options.importFile(join(inbox, name), controller.signal);
    } catch (err) {
      // Not the file's fault: leave it and try again later, backing off.
      const entry = observed.get(name);
      const failures = (entry?.failures ?? 0) + 1;
      if (entry) Object.assign(entry, { failures, retryAt: clock() + Math.min(300_000, options.pollMs * 2 ** failures) });
      logger.error({ file: sanitizeName(name), err }, 'import failed; the file stays in the inbox and is tried again');
      options.onEvent?.({ type: 'deferred', name, error: (err as Error).message });
      return;
    }
    if (report.status === 'interrupted') return;
    if (report.status === 'failed') await move(name, quarantine, 'quarantined', report, report.error?.message ?? 'unreadable');
    else await move(name, archive, 'archived', report, null);
  }

  async function poll(): Promise<void> {
    const entries = await readdir(inbox, { withFileTypes: true });
    const names = new Set(entries.map((e) => e.name));
    for (const entry of entries) {
      if (controller.signal.aborted) return;
      const { name } = entry;
      if (name.startsWith('.') || name.endsWith(MARKER) || IN_PROGRESS.test(name)) continue;
      if (entry.isSymbolicLink()) {
        await move(name, quarantine, 'quarantined', null, 'PF_IMPORT_SYMLINK: symbolic links are refused (upload the file itself)');
        continue;
      }
      if (!entry.isFile()) continue;
      const unsafe = unsafeNameReason(name);
      if (unsafe) {
        await move(name, quarantine, 'quarantined', null, `PF_IMPORT_UNSAFE_NAME: ${unsafe}`);
        continue;
      }
      const stats = await lstat(join(inbox, name)).catch(() => null);
      if (!stats) continue;
      if (stats.nlink > 1) {
        // Another name for a file elsewhere (perhaps outside the inbox): refused like a symlink.
        await move(name, quarantine, 'quarantined', null, `PF_IMPORT_HARDLINK: the file has ${stats.nlink} links; hard links are refused (upload the file itself)`);
        continue;
      }
      const now = clock();
      const previous = observed.get(name);
      const unchanged = previous !== undefined && previous.size === stats.size && previous.mtimeMs === stats.mtimeMs;
      if (!unchanged) observed.set(name, { size: stats.size, mtimeMs: stats.mtimeMs, since: now });
      const entryNow = observed.get(name)!;
      if (entryNow.retryAt !== undefined && now < entryNow.retryAt) continue;
      const marked = names.has(`${name}${MARKER}`);
      const stable = unchanged && now - entryNow.since >= options.stableMs;
      if (marked || (!options.requireMarker && stable)) await take(name);
      else if (!unchanged) options.onEvent?.({ type: 'waiting', name, size: stats.size });
    }
  }

  const done = (async () => {
    while (!controller.signal.aborted) {
      try {
        await poll();
      } catch (err) {
        logger.error({ err, inbox }, 'a poll of the inbox failed');
      }
      await sleep(options.pollMs, undefined, { signal: controller.signal }).catch(() => undefined);
    }
  })();

  return {
    done,
    async stop() {
      controller.abort();
      await done;
    },
  };
}
