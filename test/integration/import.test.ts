/**
 * The file-drop importer on the real stack with a real municipal export (SF DBI building
 * permits, test/fixtures/exports): every row reaches `received` through the windower, once.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadMapping } from '../../connectors/file-drop/mapping.ts';
import { loadPayload } from '../../connectors/claim-check.ts';
import type { PermitApplication, SubmissionEnvelope, SubmissionReceived } from '../../schemas/types.ts';
import { readAll, waitFor } from '../support/pipeline.ts';
import { importHere, importStack, permitflow, SAMPLE, SF_MAPPING, startWindower } from '../support/import.ts';

const SAMPLE_ROWS = 40;

test('the SF DBI sample imports through the CLI and every row reaches received once', async (t) => {
  const { config, topology, env } = await importStack(t, { IMPORT_CHUNK_ROWS: '15', WINDOW_MAX_AGE_MS: '1000' });
  const run = permitflow(t, ['import', SAMPLE, '--mapping', 'sf-dbi-building-permits'], env);
  const { code } = await run.exited;
  assert.equal(code, 0, run.output());
  assert.match(run.output(), /read 40 · produced 40 · duplicates 0 · bad rows 0/);

  const raw = (await readAll<SubmissionEnvelope>(config, topology, 'raw')).map((r) => r.value);
  assert.equal(raw.length, SAMPLE_ROWS);
  const permitNumbers = raw.map((e) => e.sourceReference);
  assert.equal(new Set(permitNumbers).size, SAMPLE_ROWS);
  assert.ok(permitNumbers.includes('201810011823'), 'the sourceReference is the permit number');
  for (const e of raw) {
    assert.equal(e.source, 'file-drop');
    assert.equal(e.sourceClient, 'sf-dbi-building-permits');
    assert.match(e.traceparent ?? '', /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
  }
  const first = JSON.parse((await loadPayload(undefined, raw.find((e) => e.sourceReference === '201810011823')!.payload)).toString()) as PermitApplication;
  assert.equal(first.permitType, 'Building');
  assert.equal(first.site.address.line1, '44 Montgomery St');
  assert.equal(first.appliedAt, '2018-10-01T07:49:14-07:00');
  assert.equal(first.site.latitude, 37.789806);

  await startWindower(t, config);
  await waitFor('every row received', async () => (await readAll(config, topology, 'received')).length >= SAMPLE_ROWS, 120_000, 500);
  const received = await readAll<SubmissionReceived>(config, topology, 'received');
  assert.equal(received.length, SAMPLE_ROWS);
  assert.deepEqual(new Set(received.map((r) => r.key)), new Set(raw.map((e) => e.submissionHash)));
  assert.deepEqual(new Set(received.map((r) => r.value.sourceReference)), new Set(permitNumbers));
});

test('importing the same file again produces nothing: the checkpoint says it is done', async (t) => {
  const { config, topology } = await importStack(t);
  const mapping = loadMapping(SF_MAPPING);
  const first = await importHere(config, SAMPLE, mapping);
  assert.equal(first.status, 'completed');
  assert.deepEqual(first.counts, { read: 40, produced: 40, duplicates: 0, bad: 0, flagged: 0 });
  const again = await importHere(config, SAMPLE, mapping);
  assert.equal(again.status, 'already-imported');
  assert.equal(again.counts.produced, 40);
  assert.equal((await readAll(config, topology, 'raw')).length, 40);
});
