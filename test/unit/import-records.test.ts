import assert from 'node:assert/strict';
import { linkSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import iconv from 'iconv-lite';
import { readCsv, readJsonl, type Position, type SourceItem } from '../../connectors/file-drop/records.ts';
import { openSource, type EncodingChoice } from '../../connectors/file-drop/source.ts';
import { scanUtf8 } from '../../connectors/file-drop/utf8.ts';

function file(t: TestContext, name: string, content: string | Buffer): string {
  const dir = mkdtempSync(join(tmpdir(), 'permitflow-records-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

async function read(path: string, options: { from?: Position; columns?: string[] | null; format?: 'csv' | 'jsonl'; max?: number; encoding?: EncodingChoice } = {}): Promise<SourceItem[]> {
  const source = await openSource(path, options.encoding ?? 'auto');
  try {
    const from = options.from ?? { offset: 0, line: 0 };
    const items: SourceItem[] = [];
    const reader = options.format === 'jsonl' ? readJsonl(source, { from, maxRecordBytes: options.max ?? 1 << 20 }) : readCsv(source, { from, maxRecordBytes: options.max ?? 1 << 20, delimiter: ',', quote: '"', columns: options.columns ?? null });
    for await (const item of reader) items.push(item);
    return items;
  } finally {
    await source.handle.close();
  }
}

const summary = (items: SourceItem[]) => items.map((i) => `${i.kind}@${i.line}:${i.kind === 'row' ? i.cells('b') : i.kind === 'bad' ? i.message : ''}`);

test('CSV: quoted newlines, CRLF, empty lines and BOM give exact start lines and offsets', async (t) => {
  const text = '\ufeffa,b\r\n1,"x\r\ny"\r\n\r\n2,z\r\n3,"p\nq\nr"\r\n4\r\n5,last';
  const items = await read(file(t, 'x.csv', text));
  assert.deepEqual(summary(items), ['header@1:', 'row@2:x\r\ny', 'row@5:z', 'row@6:p\nq\nr', 'bad@9:has 1 fields, the header has 2', 'row@10:last']);
  const header = items[0]!;
  assert.equal(header.kind === 'header' && header.columns.join('|'), 'a|b', 'the BOM is not part of the first column');
  assert.equal(items.at(-1)!.next.offset, Buffer.byteLength(text));
});

test('CSV: resuming at any record boundary yields exactly the records after it', async (t) => {
  const text = 'a,b\n1,"x\ny"\n\n2,z\n3,"q"\n4,w\n';
  const path = file(t, 'x.csv', text);
  const all = await read(path);
  for (let i = 0; i < all.length; i++) {
    const rest = await read(path, { from: all[i]!.next, columns: ['a', 'b'] });
    assert.deepEqual(summary(rest), summary(all.slice(i + 1)).map((s) => s.replace(/^header@1:$/, '')), `resuming after item ${i}`);
  }
});

test('CSV: Windows-1252 exports are detected and converted, punctuation included', async (t) => {
  const path = file(t, 'legacy.csv', iconv.encode('a,b\n1,Café – “quoted” € 5\n', 'win1252'));
  const source = await openSource(path);
  assert.equal(source.encoding, 'windows-1252');
  await source.handle.close();
  const row = (await read(path))[1]!;
  assert.equal(row.kind === 'row' && row.cells('b'), 'Café – “quoted” € 5');
});

test('CSV: an unclosed quote stops the file naming the line where its record starts; the rows before come first', async (t) => {
  const items: SourceItem[] = [];
  const path = file(t, 'x.csv', 'a,b\n1,ok\n2,"never closed\n3,more\n4,rows\n');
  const source = await openSource(path);
  await assert.rejects(
    (async () => {
      for await (const item of readCsv(source, { from: { offset: 0, line: 0 }, maxRecordBytes: 1 << 20, delimiter: ',', quote: '"', columns: null })) items.push(item);
    })(),
    /^PermitflowError: x\.csv:3: a quoted field in the record starting here is never closed/,
  );
  await source.handle.close();
  assert.deepEqual(summary(items), ['header@1:', 'row@2:ok']);
  await assert.rejects(read(file(t, 'y.csv', `a,b\n1,"${'x'.repeat(200)}\n`), { max: 100 }), /y\.csv:2: the record starting here is longer than 100 bytes/);
  await assert.rejects(read(file(t, 'z.csv', 'a,a\n1,2\n')), /z\.csv:1: the header row names column "a" twice/);
});

test('JSON Lines: objects by key or pointer; bad and overlong lines are bad items; resume works', async (t) => {
  const lines = ['{"b":"one","n":{"c":1}}', 'not json', '[1,2]', '', `{"b":"${'x'.repeat(300)}"}`, '{"b":null}', '{"b":"last"}'];
  const path = file(t, 'x.jsonl', `\ufeff${lines.join('\r\n')}`);
  const items = await read(path, { format: 'jsonl', max: 200 });
  assert.deepEqual(
    items.map((i) => `${i.kind}@${i.line}${i.kind === 'bad' ? `:${i.errorClass}` : ''}`),
    ['row@1', 'bad@2:PF_IMPORT_BAD_JSON', 'bad@3:PF_IMPORT_BAD_JSON', 'bad@5:PF_IMPORT_RECORD_TOO_LONG', 'row@6', 'row@7'],
  );
  const first = items[0]!;
  assert.ok(first.kind === 'row');
  assert.equal(first.cells('b'), 'one');
  assert.equal(first.cells('/n/c'), '1');
  assert.equal(first.cells('missing'), null);
  const rest = await read(path, { format: 'jsonl', from: items[3]!.next, max: 200 });
  assert.deepEqual(rest.map((i) => i.line), [6, 7]);
});

test('files that are not text exports are refused: symlinks, UTF-16, binary, empty; encodings can be forced', async (t) => {
  const path = file(t, 'a.csv', 'a,b\n1,2\n');
  const link = join(path, '..', 'link.csv');
  symlinkSync(path, link);
  await assert.rejects(openSource(link), /link\.csv: is a symbolic link; symlinks are refused/);
  await assert.rejects(openSource(join(path, '..')), /not a regular file/);
  await assert.rejects(openSource(file(t, 'u.csv', Buffer.from([0xfe, 0xff, 0, 0x61]))), /UTF-16 text/);
  await assert.rejects(openSource(file(t, 'b.csv', Buffer.from([0x1f, 0x8b, 0x08, 0x00]))), /contains NUL bytes/);
  await assert.rejects(openSource(file(t, 'e.csv', '')), /e\.csv: is empty/);
  await assert.rejects(openSource(file(t, 'n.csv', iconv.encode('a\nCafé\n', 'win1252')), 'utf-8'), /is not valid UTF-8 \(the mapping says utf-8\)/);
  const forced = await openSource(file(t, 'f.csv', 'a\nplain ascii\n'), 'windows-1252');
  assert.equal(forced.encoding, 'windows-1252');
  await forced.handle.close();
  const bom = await openSource(file(t, 'bom.csv', '\ufeffa\n1\n'));
  assert.deepEqual([bom.encoding, bom.bom, bom.sha256.length], ['utf-8', true, 64]);
  await bom.handle.close();
});

test('a hard link is refused like a symlink: it may be another name for a file outside the drop folder', async (t) => {
  const path = file(t, 'a.csv', 'a,b\n1,2\n');
  linkSync(path, join(path, '..', 'second-name.csv'));
  await assert.rejects(openSource(join(path, '..', 'second-name.csv')), /second-name\.csv: has 2 hard links; hard links are refused/);
  await assert.rejects(openSource(path), /a\.csv: has 2 hard links/);
});

test('a UTF-8 file with a stray byte is refused at the line of that byte, not read as Windows-1252', async (t) => {
  // Mostly ASCII, accents in UTF-8, and one Windows-1252 "é" pasted in on line 4.
  const utf8 = Buffer.from('ref,owner\n1,Zoë Brontë\n2,Ana Núñez\n', 'utf8');
  const stray = Buffer.concat([utf8, Buffer.from('3,Ren'), Buffer.from([0xe9]), Buffer.from('e\n4,plain\n')]);
  await assert.rejects(openSource(file(t, 'mixed.csv', stray)), (err: Error) => {
    assert.match(err.message, /mixed\.csv:4: is UTF-8 but for invalid bytes, the first on this line \(byte offset 44\): a damaged or mixed-encoding export/);
    assert.deepEqual((err as unknown as { context: unknown }).context, { line: 4 });
    return true;
  });
  // Far into a big file, past the first 256 KiB read, whose boundary cuts an "ë" in two.
  const filler = 'x'.repeat(99) + '\n';
  const big = Buffer.concat([Buffer.from('a1234\n'), Buffer.from(filler.repeat(2620)), Buffer.from('Zoë\n'.repeat(3000)), Buffer.from([0x41, 0x92, 0x0a])]);
  await assert.rejects(openSource(file(t, 'big.csv', big)), /big\.csv:5622: is UTF-8 but for invalid bytes/);
  // A forced windows-1252 still reads it as the mapping says.
  const forced = await openSource(file(t, 'forced.csv', stray), 'windows-1252');
  assert.equal(forced.encoding, 'windows-1252');
  await forced.handle.close();
});

test('Windows-1252 files without any UTF-8 sequence are still converted; valid UTF-8 across chunk boundaries stays UTF-8', async (t) => {
  const legacy = await openSource(file(t, 'legacy.csv', Buffer.concat([Buffer.from('a\n'.repeat(200_000)), iconv.encode('Ren\u00e9 \u2013 \u00bd\n', 'win1252')])));
  assert.equal(legacy.encoding, 'windows-1252');
  await legacy.handle.close();
  // 4-byte and 3-byte sequences every few bytes: some are cut by the 256 KiB read boundary.
  const utf8 = await openSource(file(t, 'emoji.csv', Buffer.from('a\n' + '\u{1F3D7}\u20ac\u00e9x\n'.repeat(60_000), 'utf8')));
  assert.deepEqual([utf8.encoding, utf8.encodingReason], ['utf-8', 'valid UTF-8 throughout']);
  await utf8.handle.close();
});

test('scanUtf8 finds the first invalid byte by the rules of RFC 3629', () => {
  const at = (bytes: number[]) => scanUtf8(Uint8Array.from(bytes)).firstInvalid;
  assert.equal(at([0x41, 0xc3, 0xa9, 0xe2, 0x82, 0xac, 0xf0, 0x9f, 0x8f, 0x97]), -1);
  assert.equal(scanUtf8(Uint8Array.from([0x41, 0xc3, 0xa9, 0xe2, 0x82, 0xac])).multibyte, 2);
  assert.equal(at([0x41, 0xc0, 0x80]), 1, 'overlong');
  assert.equal(at([0x41, 0xe0, 0x80, 0x80]), 1, 'overlong 3-byte');
  assert.equal(at([0xed, 0xa0, 0x80]), 0, 'surrogate');
  assert.equal(at([0xf4, 0x90, 0x80, 0x80]), 0, 'past U+10FFFF');
  assert.equal(at([0x41, 0x80]), 1, 'stray continuation');
  assert.equal(at([0x41, 0xc3, 0x41]), 1, 'cut sequence');
  assert.equal(at([0x41, 0xe2, 0x82]), -1, 'cut by the end of the buffer: the next chunk may complete it');
});
