/**
 * Bad input on the real stack: bad rows go to the DLQ with file, line and reason while the rest
 * of the file imports, up to IMPORT_MAX_BAD_ROWS; an unreadable file, or one past that cap,
 * stops with a message naming file and line, keeping the rows before it.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadPayload } from '../../connectors/claim-check.ts';
import { FORMULA_FLAG } from '../../connectors/file-drop/mapper.ts';
import { REPO_ROOT } from '../../lib/config.ts';
import type { DeadLetter, PermitApplication, SubmissionEnvelope } from '../../schemas/types.ts';
import { readAll } from '../support/pipeline.ts';
import { importStack, permitflow, SF_MAPPING } from '../support/import.ts';

const FIXTURES = join(REPO_ROOT, 'test/fixtures/exports');

test('a file with bad rows: each goes to the DLQ with file, line and reason; the good rows are produced', async (t) => {
  const { config, topology, env } = await importStack(t, { IMPORT_CHUNK_ROWS: '3' });
  const run = permitflow(t, ['import', join(FIXTURES, 'sf-dbi-malformed-rows.csv'), '--mapping', SF_MAPPING], env);
  const { code } = await run.exited;
  assert.equal(code, 2, `bad rows give exit code 2:\n${run.output()}`);
  assert.match(run.output(), /read 9 · produced 4 · duplicates 0 · bad rows 5 · formula-like cells flagged in 1/);
  assert.match(run.output(), /bad row sf-dbi-malformed-rows\.csv:3: PF_IMPORT_BAD_DATE: appliedAt \(column 'Filed Date'\): is not a datetime/);
  assert.doesNotMatch(run.output(), /31\/31\/2018|12abc/, 'the summary names field and column, never the value');

  const letters = (await readAll<DeadLetter>(config, topology, 'dlq')).map((r) => r.value).sort((a, b) => a.originalOffset - b.originalOffset);
  assert.deepEqual(
    letters.map((l) => [l.originalOffset, l.errorClass]),
    [
      [3, 'PF_IMPORT_BAD_DATE'],
      [4, 'PF_IMPORT_UNKNOWN_CODE'],
      [5, 'PF_IMPORT_REQUIRED'],
      [6, 'PF_IMPORT_FIELD_COUNT'],
      [10, 'PF_IMPORT_BAD_NUMBER'],
    ],
  );
  for (const l of letters) {
    assert.equal(l.originalTopic, 'sf-dbi-malformed-rows.csv');
    assert.equal(l.stage, 'importer');
    assert.equal(l.originalHeaders.line, String(l.originalOffset));
    assert.ok(l.errorMessage.startsWith(`sf-dbi-malformed-rows.csv:${l.originalOffset}: `), l.errorMessage);
    assert.ok(l.originalValue && l.originalValue.length > 0);
  }
  assert.match(letters[1]!.errorMessage, /permitType \(column 'Permit Type'\): unknown code \(code table permitType\)/);
  assert.match(letters[2]!.errorMessage, /description \(column 'Description'\): is required but empty/);
  assert.match(letters[3]!.errorMessage, /record has 20 fields, the header has 51/);
  assert.match(letters[4]!.errorMessage, /project\.estimatedCost \(column 'Estimated Cost' \/ column 'Revised Cost'\): is not a number/);

  const raw = (await readAll<SubmissionEnvelope>(config, topology, 'raw')).map((r) => r.value);
  assert.equal(raw.length, 4);
  const apps = await Promise.all(raw.map(async (e) => JSON.parse((await loadPayload(undefined, e.payload)).toString()) as PermitApplication));
  const formula = apps.find((a) => a.description.startsWith('=HYPERLINK'));
  assert.equal(formula?.extraFields?.[FORMULA_FLAG], 'Description', 'the formula cell is flagged, and kept as data');
  assert.ok(apps.some((a) => a.description === 'line one of the scope\nline two of the scope'), 'a quoted newline stays inside its field');
});

test('past IMPORT_MAX_BAD_ROWS the import stops at the next bad row, naming file and line; what was committed stays, and a higher cap resumes there', async (t) => {
  const { config, topology, env } = await importStack(t, { IMPORT_CHUNK_ROWS: '2', IMPORT_MAX_BAD_ROWS: '3' });
  const file = join(FIXTURES, 'sf-dbi-malformed-rows.csv');
  const capped = permitflow(t, ['import', file, '--mapping', SF_MAPPING], env);
  assert.equal((await capped.exited).code, 1, capped.output());
  assert.match(capped.output(), /permitflow: sf-dbi-malformed-rows\.csv:6: more than 3 bad rows \(IMPORT_MAX_BAD_ROWS\); the import stops here/);
  // Lines 2-5: one good row, three bad ones; line 6 is neither read nor dead-lettered.
  assert.match(capped.output(), /read 4 · produced 1 · duplicates 0 · bad rows 3/);
  const lettersOf = async () => (await readAll<DeadLetter>(config, topology, 'dlq')).map((r) => r.value.originalOffset).sort((a, b) => a - b);
  assert.deepEqual(await lettersOf(), [3, 4, 5]);

  // The same cap again: it stops at the same line, producing nothing twice.
  const again = permitflow(t, ['import', file, '--mapping', SF_MAPPING], env);
  assert.equal((await again.exited).code, 1, again.output());
  assert.match(again.output(), /sf-dbi-malformed-rows\.csv:6: more than 3 bad rows/);
  assert.deepEqual(await lettersOf(), [3, 4, 5]);

  // A higher cap resumes from the checkpoint: every row exactly once.
  const resumed = permitflow(t, ['import', file, '--mapping', SF_MAPPING], { ...env, IMPORT_MAX_BAD_ROWS: '10' });
  assert.equal((await resumed.exited).code, 2, resumed.output());
  assert.match(resumed.output(), /read 9 · produced 4 · duplicates 0 · bad rows 5/);
  assert.deepEqual(await lettersOf(), [3, 4, 5, 6, 10]);
  assert.equal((await readAll(config, topology, 'raw')).length, 4);
});

test('an unreadable file stops with file and line, and the rows before it stay imported', async (t) => {
  const { config, topology, env } = await importStack(t);
  const run = permitflow(t, ['import', join(FIXTURES, 'sf-dbi-unreadable.csv'), '--mapping', SF_MAPPING], env);
  const { code } = await run.exited;
  assert.equal(code, 1, run.output());
  assert.match(run.output(), /permitflow: sf-dbi-unreadable\.csv:5: a quoted field in the record starting here is never closed/);
  assert.match(run.output(), /read 3 · produced 3/);
  assert.equal((await readAll(config, topology, 'raw')).length, 3);
});

test('a header without a column the mapping reads stops at line 1, naming the column', async (t) => {
  const { env } = await importStack(t);
  const run = permitflow(t, ['import', join(FIXTURES, 'sf-dbi-building-permits.csv'), '--mapping', join(FIXTURES, 'mappings/needs-missing-column.yaml')], env);
  const { code } = await run.exited;
  assert.equal(code, 1, run.output());
  assert.match(run.output(), /sf-dbi-building-permits\.csv:1: the header lacks column\(s\) 'Applicant Name' that mapping needs-missing-column reads/);
});

test('an invalid mapping is refused before any row, naming the file and every problem', async (t) => {
  const { env } = await importStack(t);
  const run = permitflow(t, ['import', join(FIXTURES, 'sf-dbi-building-permits.csv'), '--mapping', join(FIXTURES, 'mappings/invalid.yaml')], env);
  const { code } = await run.exited;
  assert.equal(code, 1, run.output());
  assert.match(run.output(), /mappings\/invalid\.yaml: invalid mapping:/);
  assert.match(run.output(), /fields\.site\.adress\.line1: PermitApplication has no field site\.adress\.line1/);
});
