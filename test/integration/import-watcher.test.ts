/**
 * The drop-folder watcher on the real stack: a file is taken only once complete, imported, and
 * archived with its report; unreadable files, symlinks and unsafe names are quarantined with a
 * report; nothing outside the inbox is touched.
 */
import assert from 'node:assert/strict';
import { appendFileSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { createImportDeps } from '../../connectors/file-drop/deps.ts';
import { importFile } from '../../connectors/file-drop/importer.ts';
import { loadMapping } from '../../connectors/file-drop/mapping.ts';
import { defaultFolders, watchInbox, type WatcherEvent } from '../../connectors/file-drop/watcher.ts';
import type { Config } from '../../lib/config.ts';
import { REPO_ROOT } from '../../lib/config.ts';
import { createLogger } from '../../lib/logger.ts';
import { waitFor } from '../support/pipeline.ts';
import { importStack, SAMPLE, SF_MAPPING, tempDir } from '../support/import.ts';

const FIXTURES = join(REPO_ROOT, 'test/fixtures/exports');

async function startWatcher(t: TestContext, config: Config, inbox: string, requireMarker: boolean): Promise<WatcherEvent[]> {
  const logger = createLogger({ level: 'warn' });
  const deps = createImportDeps(config, logger);
  const mapping = loadMapping(SF_MAPPING);
  const events: WatcherEvent[] = [];
  const watcher = await watchInbox({
    inbox,
    pollMs: 100,
    stableMs: 600,
    requireMarker,
    logger,
    importFile: (path, signal) => importFile(path, mapping, deps, { signal }),
    onEvent: (e) => events.push(e),
  });
  t.after(async () => {
    await watcher.stop();
    deps.close();
    for (const dir of Object.values(defaultFolders(inbox))) rmSync(dir, { recursive: true, force: true });
  });
  return events;
}

const reportOf = (path: string) => JSON.parse(readFileSync(`${path}.report.json`, 'utf8')) as { originalName: string; reason: string | null; summary: string; report: { status: string; counts: { read: number; bad: number }; error: { line: number } | null } | null };

test('files are taken when complete, imported and archived; unreadable, symlinked and unsafe ones quarantined', async (t) => {
  const { config } = await importStack(t);
  const inbox = tempDir(t);
  const outside = tempDir(t);
  const events = await startWatcher(t, config, inbox, false);
  const done = (name: string) => events.find((e): e is Extract<WatcherEvent, { type: 'archived' | 'quarantined' }> => (e.type === 'archived' || e.type === 'quarantined') && e.name === name);

  // An SFTP-style upload: written under a temporary name, then renamed.
  copyFileSync(SAMPLE, join(inbox, 'permits.csv.filepart'));
  renameSync(join(inbox, 'permits.csv.filepart'), join(inbox, 'permits.csv'));
  copyFileSync(join(FIXTURES, 'sf-dbi-unreadable.csv'), join(inbox, 'broken.csv'));
  copyFileSync(join(FIXTURES, 'sf-dbi-malformed-rows.csv'), join(inbox, 'some-bad-rows.csv'));
  writeFileSync(join(outside, 'secret.csv'), 'not for import\n');
  symlinkSync(join(outside, 'secret.csv'), join(inbox, 'linked.csv'));
  const traversal = 'exports\\..\\..\\etc\\evil.csv';
  copyFileSync(SAMPLE, join(inbox, traversal));

  await waitFor('every file handled', () => ['permits.csv', 'broken.csv', 'some-bad-rows.csv', 'linked.csv', traversal].every((n) => done(n)), 120_000, 100);

  const archived = done('permits.csv')!;
  assert.equal(archived.type, 'archived');
  const folders = defaultFolders(inbox);
  assert.equal(archived.path.startsWith(`${folders.archive}/`), true, archived.path);
  assert.equal(reportOf(archived.path).report?.counts.read, 40);
  assert.match(reportOf(archived.path).summary, /read 40 · produced 40/);

  const partial = done('some-bad-rows.csv')!;
  assert.equal(partial.type, 'archived', 'bad rows do not quarantine a readable file');
  assert.equal(reportOf(partial.path).report?.counts.bad, 5);

  const broken = done('broken.csv')!;
  assert.equal(broken.type, 'quarantined');
  assert.equal(reportOf(broken.path).report?.error?.line, 5);
  assert.match(reportOf(broken.path).summary, /broken\.csv:5: a quoted field/);

  const linked = done('linked.csv')!;
  assert.equal(linked.type, 'quarantined');
  assert.match(reportOf(linked.path).reason ?? '', /symbolic links are refused/);
  assert.equal(readFileSync(join(outside, 'secret.csv'), 'utf8'), 'not for import\n', 'the link target is untouched');

  const unsafe = done(traversal)!;
  assert.equal(unsafe.type, 'quarantined');
  assert.equal(unsafe.path.startsWith(`${folders.quarantine}/`), true, unsafe.path);
  assert.doesNotMatch(unsafe.path.slice(folders.quarantine.length + 1), /[\\/]/, 'quarantined under a sanitised name');
  assert.equal(reportOf(unsafe.path).originalName, traversal);
  assert.match(reportOf(unsafe.path).reason ?? '', /path separator/);

  assert.deepEqual(readdirSync(inbox), [], 'the inbox is empty again: archive and quarantine are beside it');
});

test('with markers required, a file is not taken until its .done marker arrives, however stable', async (t) => {
  const { config } = await importStack(t);
  const inbox = tempDir(t);
  const events = await startWatcher(t, config, inbox, true);
  // The same upload in an inbox without markers: once that watcher takes it, the file has been
  // stable long enough to be taken, so only the missing marker holds it back here.
  const controlInbox = tempDir(t);
  const control = await startWatcher(t, config, controlInbox, false);
  const lines = readFileSync(SAMPLE, 'utf8').split('\n');
  mkdirSync(join(inbox, 'sub'));
  for (const dir of [inbox, controlInbox]) writeFileSync(join(dir, 'upload.csv'), `${lines.slice(0, 20).join('\n')}\n`);
  await waitFor('the watcher to see the partial upload', () => events.some((e) => e.type === 'waiting' && e.name === 'upload.csv'), 30_000, 50);
  for (const dir of [inbox, controlInbox]) appendFileSync(join(dir, 'upload.csv'), lines.slice(20).join('\n'));
  await waitFor('the watcher to see it grow', () => events.filter((e) => e.type === 'waiting' && e.name === 'upload.csv').length >= 2, 30_000, 50);
  await waitFor('the watcher without markers to take the same upload', () => control.some((e) => e.type === 'archived'), 60_000, 50);
  // A probe file that changes between two polls: once both are seen, a whole poll has run since
  // the upload was stable (a poll imports what it takes before it reports later files).
  writeFileSync(join(inbox, 'probe.csv'), 'a\n');
  await waitFor('a poll after the upload was stable', () => events.some((e) => e.type === 'waiting' && e.name === 'probe.csv'), 30_000, 50);
  appendFileSync(join(inbox, 'probe.csv'), 'b\n');
  await waitFor('another poll', () => events.filter((e) => e.type === 'waiting' && e.name === 'probe.csv').length >= 2, 30_000, 50);
  assert.equal(events.some((e) => e.type === 'archived'), false, 'not taken without a marker');

  writeFileSync(join(inbox, 'upload.csv.done'), '');
  await waitFor('the file archived', () => events.some((e) => e.type === 'archived'), 60_000, 100);
  const archived = events.find((e): e is Extract<WatcherEvent, { type: 'archived' | 'quarantined' }> => e.type === 'archived')!;
  assert.equal(reportOf(archived.path).report?.counts.read, 40, 'the whole file was imported');
  assert.equal(existsSync(join(inbox, 'upload.csv.done')), false, 'the marker is removed with its file');
  assert.equal(existsSync(join(inbox, 'sub')), true, 'sub-folders are left alone');
});
