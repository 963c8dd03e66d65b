/**
 * The drop-folder watcher's own folders, without Kafka (the import itself is never reached):
 * archive and quarantine live beside the inbox, never inside it, are refused when they are
 * symlinks, and receive nothing once swapped for a symlink; hard links in the inbox are
 * quarantined like symlinks.
 */
import assert from 'node:assert/strict';
import { existsSync, linkSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { test, type TestContext } from 'node:test';
import { defaultFolders, watchInbox, type WatcherEvent, type WatcherOptions } from '../../connectors/file-drop/watcher.ts';
import { createLogger } from '../../lib/logger.ts';
import { waitFor } from '../support/pipeline.ts';

function tempRoot(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'pf-watcher-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function start(t: TestContext, options: Partial<WatcherOptions> & { inbox: string }) {
  const events: WatcherEvent[] = [];
  const imported: string[] = [];
  /** The watcher's log lines: a failed poll is only logged. */
  const logs: Array<{ msg: string; err?: { message: string } }> = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) logs.push(JSON.parse(line) as (typeof logs)[number]);
      done();
    },
  });
  const watcher = await watchInbox({
    pollMs: 20,
    stableMs: 0,
    requireMarker: false,
    logger: createLogger({ level: 'warn', destination }),
    importFile: (path) => {
      imported.push(path);
      return Promise.reject(new Error('no import in this test'));
    },
    onEvent: (e) => events.push(e),
    ...options,
  });
  t.after(() => watcher.stop());
  return { events, imported, logs };
}

test('archive and quarantine are created beside the inbox, not in it; configured ones are used', async (t) => {
  const root = tempRoot(t);
  const inbox = join(root, 'upload');
  mkdirSync(inbox);
  await start(t, { inbox });
  assert.deepEqual(defaultFolders(inbox), { archive: join(root, 'upload.archive'), quarantine: join(root, 'upload.quarantine') });
  assert.ok(existsSync(join(root, 'upload.archive')) && existsSync(join(root, 'upload.quarantine')));
  assert.deepEqual(readdirSync(inbox), [], 'nothing is created inside the inbox');

  const other = join(root, 'elsewhere');
  await start(t, { inbox, archive: join(other, 'a'), quarantine: join(other, 'q') });
  assert.deepEqual(readdirSync(other).sort(), ['a', 'q']);
});

test('a symlinked archive or quarantine, or one inside the inbox, is refused at start', async (t) => {
  const root = tempRoot(t);
  const inbox = join(root, 'upload');
  const target = join(root, 'target');
  mkdirSync(inbox);
  mkdirSync(target);
  symlinkSync(target, join(root, 'upload.archive'));
  await assert.rejects(start(t, { inbox }), /PermitflowError|archive folder .* is a symbolic link; refused/);
  await assert.rejects(start(t, { inbox, archive: join(root, 'a'), quarantine: join(inbox, 'quarantine') }), /quarantine folder .* is inside the inbox/);
  // A symlink inside the inbox pointing out of it is still refused as a symlink.
  symlinkSync(target, join(inbox, 'archive'));
  await assert.rejects(start(t, { inbox, archive: join(inbox, 'archive'), quarantine: join(root, 'q') }), /is a symbolic link; refused/);
  assert.deepEqual(readdirSync(target), [], 'nothing was written where the links point');
});

test('a quarantine swapped for a symlink after start receives nothing: the file stays in the inbox', async (t) => {
  const root = tempRoot(t);
  const inbox = join(root, 'upload');
  const target = join(root, 'target');
  mkdirSync(inbox);
  mkdirSync(target);
  const { quarantine } = defaultFolders(inbox);
  const { events, logs } = await start(t, { inbox });
  renameSync(quarantine, join(root, 'old-quarantine'));
  symlinkSync(target, quarantine);
  writeFileSync(join(root, 'secret.csv'), 'a,b\n');
  symlinkSync(join(root, 'secret.csv'), join(inbox, 'linked.csv'));
  const refusals = () => logs.filter((l) => /was replaced since the watcher started/.test(l.err?.message ?? '')).length;
  await waitFor('three polls refusing the swapped folder', () => refusals() >= 3, 10_000, 20);
  assert.deepEqual(readdirSync(target), [], 'nothing moved through the swapped folder');
  assert.deepEqual(readdirSync(inbox), ['linked.csv']);
  assert.equal(events.some((e) => e.type === 'quarantined'), false);
});

test('a hard link in the inbox is quarantined like a symlink, and never imported', async (t) => {
  const root = tempRoot(t);
  const inbox = join(root, 'upload');
  mkdirSync(inbox);
  writeFileSync(join(root, 'private.csv'), 'owner,ssn\nZebulon,123\n');
  linkSync(join(root, 'private.csv'), join(inbox, 'innocent.csv'));
  const { events, imported } = await start(t, { inbox });
  await waitFor('the hard link quarantined', () => events.some((e) => e.type === 'quarantined' && e.name === 'innocent.csv'), 10_000, 20);
  const event = events.find((e): e is Extract<WatcherEvent, { type: 'archived' | 'quarantined' }> => e.type === 'quarantined')!;
  assert.match(event.reason ?? '', /PF_IMPORT_HARDLINK: the file has 2 links; hard links are refused/);
  assert.ok(event.path.startsWith(defaultFolders(inbox).quarantine));
  assert.deepEqual(imported, [], 'the importer never saw it');
  assert.equal(readFileSync(join(root, 'private.csv'), 'utf8'), 'owner,ssn\nZebulon,123\n', 'the other name is untouched');
});
