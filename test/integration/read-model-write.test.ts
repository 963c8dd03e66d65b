/**
 * The sink's batch transaction (write.ts applyBatch) on the real PostgreSQL: the COPY text it
 * builds keeps every character (tabs, line breaks, backslashes, a literal `\N`), each event
 * records the submission row it makes and no other, and a redelivered or replayed batch writes
 * nothing twice.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { deadLetterRecord, stateRecord, type StateRecord } from '../../connectors/read-model/records.ts';
import { applyBatch, type SinkBatch, type SinkRecord } from '../../connectors/read-model/write.ts';
import { sha256Hex as sha } from '../../domain/hashing.ts';
import type { DeadLetter, PayloadRef, StateHeader } from '../../schemas/types.ts';
import { readModelConfig } from './read-model-helpers.ts';

const PAYLOAD: PayloadRef = { contentType: 'application/json', size: 2, sha256: sha('{}'), inline: null, objectKey: `raw/${sha('{}')}` };
const AWKWARD = 'tab\there, line\nbreak, return\r, back\\slash, \\N, end';

function records(hashes: string[], state: 'received' | 'chunked' | 'accepted', batchId: string | null): SinkRecord[] {
  return hashes.map((hash, offset) => {
    const header: StateHeader = { submissionHash: hash, state, batchId, idempotencyKey: hash, at: Date.UTC(2026, 11, 3, 12, 0, offset), workerId: 'test', attempt: 1, traceparent: null };
    const record: StateRecord =
      state === 'received'
        ? { header, source: 'http', sourceClient: 'portal', sourceReference: `${AWKWARD} ${offset}`, receivedAt: header.at, rawOffset: offset, payload: PAYLOAD, attachments: [] }
        : state === 'chunked'
          ? { header, batchSize: hashes.length, sourceReference: `${AWKWARD} ${offset}`, receivedAt: header.at, payload: PAYLOAD, attachments: [] }
          : { header, jurisdiction: 'us-or-cedar-county', permitType: AWKWARD, parcelNumber: null, reviewTrack: 'standard', computedFeeCents: 100, warnings: [AWKWARD] };
    return { kind: 'state', offset: BigInt(offset), ...stateRecord(record) };
  });
}

const batchOf = (group: string, topic: string, list: SinkRecord[]): SinkBatch => ({ group, topic, partition: 0, records: list, nextOffset: list.at(-1)!.offset + 1n });

test('a batch keeps every character, records submissions only for new events, and applies once', async (t) => {
  const { pool } = await readModelConfig(t);
  const hashes = [sha('a'), sha('b'), sha('c')];
  // Released before the pool ends (the pool's own after hook waits for it).
  const client = await pool.connect();
  try {
    const received = batchOf('g', 'received', records(hashes, 'received', null));
    assert.deepEqual(await applyBatch(client, received), { applied: 3, skipped: 0, duplicates: 0, completedBatches: [] });
    const sources = await pool.query<{ source_reference: string; status: string }>('SELECT source_reference, status FROM submissions_recorded ORDER BY source_reference');
    assert.deepEqual(
      sources.rows.map((r) => r.source_reference),
      [0, 1, 2].map((i) => `${AWKWARD} ${i}`),
    );

    // chunked is read from the events (READ_FROM_EVENTS): the recorded row stays at received, the view moves on.
    await applyBatch(client, batchOf('g', 'chunked', records(hashes, 'chunked', 'batch-1')));
    const recorded = await pool.query<{ status: string; updated_at: Date }>('SELECT status, updated_at FROM submissions_recorded ORDER BY submission_hash');
    assert.deepEqual(recorded.rows.map((r) => r.status), ['received', 'received', 'received']);
    const viewed = await pool.query<{ status: string; batch_id: string }>('SELECT status, batch_id FROM submissions ORDER BY submission_hash');
    assert.deepEqual(viewed.rows, hashes.map(() => ({ status: 'chunked', batch_id: 'batch-1' })));

    const accepted = batchOf('g', 'accepted', records(hashes, 'accepted', 'batch-1'));
    await applyBatch(client, accepted);
    const decided = await pool.query<{ status: string; batch_id: string; review_track: string }>('SELECT status, batch_id, review_track FROM submissions_recorded ORDER BY submission_hash');
    assert.deepEqual(decided.rows, hashes.map(() => ({ status: 'accepted', batch_id: 'batch-1', review_track: 'standard' })));
    const detail = await pool.query<{ detail: { permitType: string; warnings: string[] } }>("SELECT detail FROM submission_events WHERE state = 'accepted' LIMIT 1");
    assert.equal(detail.rows[0]!.detail.permitType, AWKWARD);
    assert.deepEqual(detail.rows[0]!.detail.warnings, [AWKWARD]);

    // Redelivered to the same group: below the stored offset, skipped. Replayed by another group: every event a duplicate.
    const before = await pool.query('SELECT submission_hash, status, updated_at FROM submissions_recorded ORDER BY 1');
    assert.deepEqual(await applyBatch(client, received), { applied: 0, skipped: 3, duplicates: 0, completedBatches: [] });
    assert.deepEqual(await applyBatch(client, batchOf('replay', 'received', received.records)), { applied: 3, skipped: 0, duplicates: 3, completedBatches: [] });
    assert.deepEqual(await applyBatch(client, batchOf('replay', 'accepted', accepted.records)), { applied: 3, skipped: 0, duplicates: 3, completedBatches: [] });
    assert.deepEqual((await pool.query('SELECT submission_hash, status, updated_at FROM submissions_recorded ORDER BY 1')).rows, before.rows);
    const events = await pool.query<{ n: string }>('SELECT count(*) AS n FROM submission_events');
    assert.equal(Number(events.rows[0]!.n), 9);
    const offsets = await pool.query<{ consumer_group: string; topic: string; next_offset: string }>('SELECT consumer_group, topic, next_offset FROM sink_offsets ORDER BY 1, 2');
    assert.deepEqual(offsets.rows, [
      { consumer_group: 'g', topic: 'accepted', next_offset: '3' },
      { consumer_group: 'g', topic: 'chunked', next_offset: '3' },
      { consumer_group: 'g', topic: 'received', next_offset: '3' },
      { consumer_group: 'replay', topic: 'accepted', next_offset: '3' },
      { consumer_group: 'replay', topic: 'received', next_offset: '3' },
    ]);
  } finally {
    client.release();
  }
});

test('a dead letter replayed past its stage is in flight again when its batch settles, not dead-lettered', async (t) => {
  const { pool } = await readModelConfig(t);
  const [replayed, decided] = [sha('dead-letter-replayed'), sha('dead-letter-sibling')];
  const batchId = 'batch-dl';
  const header = (hash: string, state: 'enriched', offset: number): StateHeader => ({ submissionHash: hash, state, batchId, idempotencyKey: hash, at: Date.UTC(2026, 11, 3, 13, 0, offset), workerId: 'test', attempt: 1, traceparent: null });
  const letter: DeadLetter = {
    submissionHash: replayed, batchId, stage: 'enricher', consumerGroup: 'enricher', errorClass: 'PF_LOOKUP_FAILED', errorMessage: 'parcel lookup failed', errorChain: [], attempt: 3,
    firstFailureAt: 0, lastFailureAt: 0, originalTopic: 'chunked', originalPartition: 0, originalOffset: 0, originalTimestamp: 0, originalKey: null, originalValue: null, originalHeaders: {}, traceId: null, workerId: 'test', parked: false,
  };
  const settled = async () => (await pool.query<{ accepted_count: number; dead_lettered_count: number; complete: boolean }>('SELECT accepted_count, dead_lettered_count, complete FROM batches WHERE batch_id = $1', [batchId])).rows[0];
  const client = await pool.connect();
  try {
    await applyBatch(client, batchOf('g', 'received', records([replayed, decided], 'received', null)));
    const manifest = { batchId, idempotencyKey: 'key', partition: 0, members: [replayed, decided], count: 2, bytes: 4, openedAt: 0, closedAt: 1, closeReason: 'COUNT' as const, firstOffset: 0, lastOffset: 1, archiveKey: null, workerId: 'test' };
    await applyBatch(client, batchOf('g', 'batches', [{ kind: 'manifest', offset: 0n, manifest }]));
    await applyBatch(client, batchOf('g', 'dlq', [{ kind: 'dead-letter', offset: 0n, ...deadLetterRecord(letter, batchId) }]));
    assert.deepEqual(await settled(), { accepted_count: 0, dead_lettered_count: 1, complete: false });

    // Replayed: enriched (a higher rank than the enricher's dead letter) puts it back in flight; the sibling's decision settles the batch.
    const enriched = stateRecord({ header: header(replayed, 'enriched', 0), payload: PAYLOAD, attachments: [], lookups: [] });
    await applyBatch(client, batchOf('g', 'enriched', [{ kind: 'state', offset: 0n, ...enriched }]));
    await applyBatch(client, batchOf('g', 'accepted', records([decided], 'accepted', batchId)));
    assert.deepEqual(await settled(), { accepted_count: 1, dead_lettered_count: 0, complete: false });
  } finally {
    client.release();
  }
});
