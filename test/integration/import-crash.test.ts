/**
 * Crash safety of the importer with real SIGKILLs: the import runs as a child process, is
 * killed twice mid-file and restarted; afterwards the raw topic (read_committed) holds every
 * row exactly once (the strong property: the windower's dedup would hide repeats in
 * `received`), and every row reaches `received` exactly once.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Config } from '../../lib/config.ts';
import { createKafka } from '../../lib/kafka.ts';
import { createLogger } from '../../lib/logger.ts';
import type { SubmissionEnvelope, SubmissionReceived } from '../../schemas/types.ts';
import type { Topology } from '../../topology/topics.ts';
import { generateExport } from '../../bench/import/generate.ts';
import { readAll, waitFor } from '../support/pipeline.ts';
import { importStack, permitflow, SF_MAPPING, startWindower, tempDir } from '../support/import.ts';

const ROWS = 30_000;

/** End offsets of the raw topic: moves with every produce, committed or not. */
async function rawEnd(config: Config, topology: Topology): Promise<number> {
  const admin = createKafka(config, createLogger({ level: 'warn' })).admin();
  await admin.connect();
  try {
    return (await admin.fetchTopicOffsets(topology.topics.raw.name)).reduce((n, o) => n + Number(o.high), 0);
  } finally {
    await admin.disconnect();
  }
}

test('SIGKILL the import twice mid-file and restart: every row exactly once in raw and in received', async (t) => {
  const { config, topology, env } = await importStack(t, { IMPORT_CHUNK_ROWS: '100', WINDOW_MAX_AGE_MS: '1000' });
  const file = join(tempDir(t), 'legacy-export.csv');
  await generateExport(file, { rows: ROWS });
  const args = ['import', file, '--mapping', SF_MAPPING];

  const committed: number[] = [];
  for (const fraction of [0.25, 0.6]) {
    const run = permitflow(t, args, env);
    await waitFor(`the import to pass ${fraction * 100}% of the file`, async () => (await rawEnd(config, topology)) >= ROWS * fraction, 180_000, 50);
    run.child.kill('SIGKILL');
    const { signal } = await run.exited;
    assert.equal(signal, 'SIGKILL', `the import finished before the kill:\n${run.output()}`);
    committed.push((await readAll(config, topology, 'raw')).length);
  }
  // The kills landed mid-file, after some rows were committed.
  assert.ok(committed[0]! > 0 && committed[1]! > committed[0]! && committed[1]! < ROWS, `committed after each kill: ${committed.join(', ')}`);

  const last = permitflow(t, args, env);
  const { code } = await last.exited;
  assert.equal(code, 0, last.output());
  assert.match(last.output(), /resumed at line/);
  assert.match(last.output(), new RegExp(`read ${ROWS.toLocaleString('en-US')} · produced ${ROWS.toLocaleString('en-US')} · duplicates 0 · bad rows 0`));

  const raw = (await readAll<SubmissionEnvelope>(config, topology, 'raw')).map((r) => r.value);
  const perRow = new Map<string, number>();
  for (const e of raw) perRow.set(e.sourceReference!, (perRow.get(e.sourceReference!) ?? 0) + 1);
  assert.equal(perRow.size, ROWS, 'every row reached the raw topic');
  assert.deepEqual([...perRow.values()].filter((n) => n > 1), [], 'no row was produced twice');
  assert.equal(raw.length, ROWS);

  await startWindower(t, config);
  await waitFor('every row received', async () => (await readAll(config, topology, 'received')).length >= ROWS, 300_000, 1_000);
  const received = await readAll<SubmissionReceived>(config, topology, 'received');
  const hashes = new Map<string, number>();
  for (const r of received) hashes.set(r.key!, (hashes.get(r.key!) ?? 0) + 1);
  assert.equal(received.length, ROWS);
  assert.deepEqual(new Set(hashes.keys()), new Set(raw.map((e) => e.submissionHash)));
});
