import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createFingerprints } from '../../connectors/file-drop/fingerprints.ts';
import { childPath, sanitizeName, unsafeNameReason } from '../../domain/names.ts';
import { sha256Hex } from '../../domain/hashing.ts';

test('file names that could leave the folder or confuse tools are unsafe; ordinary ones are fine', () => {
  for (const name of ['permits.csv', 'Permits 2026-11 (final).CSV', 'export..v2.csv', 'données.csv']) assert.equal(unsafeNameReason(name), null, name);
  for (const name of ['..', '.', '../etc/passwd', 'a/b.csv', 'exports\\..\\..\\evil.csv', '.hidden.csv', '-rf.csv', 'nul\u0000.csv', 'line\nbreak.csv', 'C:evil.csv', ' padded.csv', 'x'.repeat(201)]) {
    assert.notEqual(unsafeNameReason(name), null, JSON.stringify(name));
  }
  assert.equal(sanitizeName('exports\\..\\..\\evil.csv'), 'exports_.._.._evil.csv');
  assert.equal(unsafeNameReason(sanitizeName('../../etc/passwd')), null);
  assert.equal(sanitizeName(''), 'unnamed');
  assert.equal(childPath('/inbox/archive', 'a.csv'), '/inbox/archive/a.csv');
  assert.throws(() => childPath('/inbox/archive', '../a.csv'), /PermitflowError|refusing file name/);
});

test('fingerprints count repeats exactly within capacity, and say when they are saturated', () => {
  const fp = createFingerprints(10_000);
  const hashes = Array.from({ length: 10_000 }, (_, i) => sha256Hex(String(i)));
  assert.equal(hashes.filter((h) => fp.seen(h)).length, 0);
  assert.equal(hashes.filter((h) => fp.seen(h)).length, 10_000);
  assert.equal(fp.size, 10_000);
  assert.equal(fp.saturated, false);
  assert.equal(fp.seen(sha256Hex('one more')), false);
  assert.equal(fp.saturated, true, 'past capacity a new hash is not remembered');
  assert.equal(fp.seen(sha256Hex('one more')), false);
});
