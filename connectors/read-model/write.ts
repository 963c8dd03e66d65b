/**
 * One consumed Kafka batch (the records of one topic-partition fetch) applied to PostgreSQL in
 * one transaction, together with the offset after it. That is the sink's exactly-once and
 * batch-atomic contract:
 *
 * - Offsets live in `sink_offsets`, written in the same transaction as the rows. The row is
 *   locked first (FOR UPDATE) and records below its offset are skipped, so a redelivery after
 *   a crash, a rebalance or a zombie instance applies nothing twice, and a crash before COMMIT
 *   leaves nothing of the batch behind.
 * - Every row is also idempotent on its own (unique submission+state, dead letter per group and
 *   original offset, upserts): replaying a topic or a duplicate record has no visible effect,
 *   and a duplicate event does not touch `submissions` or `batches`.
 * - A windower batch's accepted permits appear together: `permits` rows of a batch are written
 *   only in the transaction that makes the batch complete (its manifest read and every member
 *   accepted, rejected or dead-lettered), all at once. Terminal records and the manifest arrive
 *   from different topics in different transactions, so each transaction that can complete a
 *   batch first makes its own changes, then locks the batch row (creating it if needed) in
 *   batch-id order and only then counts. Whichever commits last counts after the other
 *   committed (READ COMMITTED takes a fresh snapshot per statement), so a batch cannot be left
 *   incomplete with all its members terminal.
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { BatchManifest } from '../../schemas/types.ts';
import { READ_FROM_EVENTS, type DeadLetterRow, type EventRow, type SubmissionPatch } from './records.ts';

export type SinkRecord =
  | { kind: 'state'; offset: bigint; event: EventRow; patch: SubmissionPatch }
  | { kind: 'manifest'; offset: bigint; manifest: BatchManifest }
  | { kind: 'dead-letter'; offset: bigint; row: DeadLetterRow; patch: SubmissionPatch | null }
  | { kind: 'unreadable'; offset: bigint; error: string };

export interface SinkBatch {
  group: string;
  topic: string;
  partition: number;
  records: SinkRecord[];
  /** Offset after the batch (past trailing transaction markers too). */
  nextOffset: bigint;
}

export interface ApplyResult {
  /** Records at or past the stored offset. */
  applied: number;
  /** Records below the stored offset: applied before. */
  skipped: number;
  /** Events and dead letters already present (duplicates): no effect. */
  duplicates: number;
  /** Batches this transaction completed (their permits published). */
  completedBatches: string[];
}

const iso = (ms: number | null | undefined): string | null => (ms === null || ms === undefined ? null : new Date(ms).toISOString());

/** A value in COPY's text format: `\\N` for null, backslash, tab and line breaks escaped. */
function copyField(value: string | number | null): string {
  if (value === null) return '\\N';
  const text = String(value);
  return /[\\\t\n\r]/.test(text) ? text.replace(/[\\\t\n\r]/g, (c) => (c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r')) : text;
}

/**
 * Streams COPY text rows (built by copyField) into `copy` (a COPY ... FROM STDIN statement).
 * Chunks given lazily are built while PostgreSQL already parses the ones before.
 */
async function copyRows(client: pg.ClientBase, copy: string, text: string | Iterable<string>): Promise<void> {
  await pipeline(Readable.from(typeof text === 'string' ? [text] : text), client.query(copyFrom(copy)));
}

/** Rows per chunk of a lazily built COPY stream. */
const COPY_CHUNK_ROWS = 100;

/** The staged submission columns of an event that records no submission row (READ_FROM_EVENTS). */
const NO_SUBMISSION_ROW = '\t\\N'.repeat(9);

const EVENT_COLUMNS = 'submission_hash, state, batch_id, idempotency_key, at, worker_id, attempt, traceparent, trace_id, detail, source_topic, source_partition, source_offset';

/**
 * The session's staging tables: COPY has no ON CONFLICT, so rows are copied there and inserted
 * or upserted from there in one statement (emptied at each commit). Made outside any
 * transaction, once per connection: made inside one that rolls back, they would vanish.
 */
const staged = new WeakSet<pg.ClientBase>();
async function prepareStaging(client: pg.ClientBase): Promise<void> {
  if (staged.has(client)) return;
  await client.query(
    `CREATE TEMPORARY TABLE IF NOT EXISTS submission_patches (
       submission_hash text, status text, status_rank smallint, status_at timestamptz, source text, source_client text,
       source_reference text, received_at timestamptz, batch_id text, review_track text
     ) ON COMMIT DELETE ROWS`,
  );
  // Each event with the `submissions_recorded` row it makes (status null: nothing recorded, see READ_FROM_EVENTS).
  await client.query(
    `CREATE TEMPORARY TABLE IF NOT EXISTS staged_events (
       submission_hash text, state text, batch_id text, idempotency_key text, at timestamptz, worker_id text, attempt integer,
       traceparent text, trace_id text, detail jsonb, source_topic text, source_partition integer, source_offset bigint,
       status text, status_rank smallint, status_at timestamptz, source text, source_client text, source_reference text,
       received_at timestamptz, recorded_batch_id text, review_track text
     ) ON COMMIT DELETE ROWS`,
  );
  staged.add(client);
}

/**
 * How `submissions_recorded` takes a newer row for the same submission: the furthest state
 * wins, and what a row already holds (source, receipt, batch, review track) is kept.
 */
const MERGE_SUBMISSION = `ON CONFLICT (submission_hash) DO UPDATE SET
       status = CASE WHEN EXCLUDED.status_rank > s.status_rank THEN EXCLUDED.status ELSE s.status END,
       status_at = CASE WHEN EXCLUDED.status_rank > s.status_rank THEN EXCLUDED.status_at ELSE s.status_at END,
       status_rank = GREATEST(s.status_rank, EXCLUDED.status_rank),
       source = COALESCE(s.source, EXCLUDED.source),
       source_client = COALESCE(s.source_client, EXCLUDED.source_client),
       source_reference = COALESCE(s.source_reference, EXCLUDED.source_reference),
       received_at = COALESCE(s.received_at, EXCLUDED.received_at),
       batch_id = COALESCE(s.batch_id, EXCLUDED.batch_id),
       review_track = COALESCE(s.review_track, EXCLUDED.review_track),
       updated_at = now()`;

const SUBMISSION_COLUMNS = 'submission_hash, status, status_rank, status_at, source, source_client, source_reference, received_at, batch_id, review_track';

/**
 * Appends the events not yet in the table, records the submission rows of those new events,
 * and returns the `hash/state` keys of the events that were already there (duplicates). The rows go by COPY (one text stream; the server parses
 * no JSON document or statement per row) into the staging table, each event with its
 * submission row, then into both tables in one statement: its ON CONFLICT leaves out a
 * (submission, state) already there, so the unique index stays the one duplicate check whoever
 * wrote the row first, and a duplicate event does not touch `submissions_recorded`. Two round
 * trips for both tables; `then` (statements without parameters, the offset and COMMIT) rides
 * along in the second when nothing else is left to do.
 */
async function insertEvents(client: pg.ClientBase, topic: string, partition: number, records: Extract<SinkRecord, { kind: 'state' }>[], then = ''): Promise<Set<string>> {
  const inBatch = new Set<string>();
  const unique: typeof records = [];
  for (const record of records) {
    const key = `${record.event.submissionHash}/${record.event.state}`;
    // A duplicate within the batch too: the first wins.
    if (inBatch.has(key)) continue;
    inBatch.add(key);
    unique.push(record);
  }
  if (unique.length === 0) {
    if (then) await client.query(then);
    return new Set();
  }
  const where = `\t${copyField(topic)}\t${partition}\t`;
  function* chunks(): Generator<string> {
    for (let start = 0; start < unique.length; start += COPY_CHUNK_ROWS) {
      let text = '';
      for (const { event: e, patch: p, offset } of unique.slice(start, start + COPY_CHUNK_ROWS)) {
        text += `${copyField(e.submissionHash)}\t${copyField(e.state)}\t${copyField(e.batchId)}\t${copyField(e.idempotencyKey)}\t${copyField(iso(e.at))}\t${copyField(e.workerId)}\t${e.attempt}\t${copyField(e.traceparent)}\t${copyField(e.traceId)}\t${copyField(JSON.stringify(e.detail))}${where}${offset}`;
        text += READ_FROM_EVENTS.has(p.status)
          ? NO_SUBMISSION_ROW
          : `\t${copyField(p.status)}\t${p.rank}\t${copyField(iso(p.statusAt))}\t${copyField(p.source ?? null)}\t${copyField(p.sourceClient ?? null)}\t${copyField(p.sourceReference ?? null)}\t${copyField(iso(p.receivedAt))}\t${copyField(p.batchId ?? null)}\t${copyField(p.reviewTrack ?? null)}`;
        text += '\n';
      }
      yield text;
    }
  }
  await copyRows(client, 'COPY staged_events FROM STDIN', chunks());
  // One row per submission for ON CONFLICT DO UPDATE (a state topic holds one state, so this
  // only guards), upserted in hash order: a stable lock order across concurrent transactions.
  const statement = `WITH added AS (
       INSERT INTO submission_events (${EVENT_COLUMNS}) SELECT ${EVENT_COLUMNS} FROM staged_events ON CONFLICT (submission_hash, state) DO NOTHING RETURNING submission_hash, state
     ), recorded AS (
       INSERT INTO submissions_recorded AS s (${SUBMISSION_COLUMNS})
       SELECT DISTINCT ON (p.submission_hash) p.submission_hash, p.status, p.status_rank, p.status_at, p.source, p.source_client, p.source_reference, p.received_at, p.recorded_batch_id, p.review_track
         FROM staged_events p JOIN added a ON a.submission_hash = p.submission_hash AND a.state = p.state
        WHERE p.status IS NOT NULL
        ORDER BY p.submission_hash, p.status_rank DESC
       ${MERGE_SUBMISSION}
     )
     -- The events already present (usually none): fewer rows back than the events added.
     SELECT p.submission_hash, p.state FROM staged_events p
      WHERE NOT EXISTS (SELECT 1 FROM added a WHERE a.submission_hash = p.submission_hash AND a.state = p.state)`;
  const results = (await client.query(then ? `${statement}; ${then}` : statement)) as unknown as pg.QueryResult<{ submission_hash: string; state: string }> | pg.QueryResult[];
  const { rows } = (Array.isArray(results) ? results[0] : results) as pg.QueryResult<{ submission_hash: string; state: string }>;
  return new Set(rows.map((r) => `${r.submission_hash}/${r.state}`));
}

/** Upserts `submissions_recorded` in hash order (a stable lock order across concurrent transactions): the dead letters' rows. */
async function upsertSubmissions(client: pg.ClientBase, patches: SubmissionPatch[]): Promise<void> {
  // One row per hash per statement (ON CONFLICT DO UPDATE refuses two): the furthest state wins.
  const byHash = new Map<string, SubmissionPatch>();
  for (const p of patches) {
    if (READ_FROM_EVENTS.has(p.status)) continue;
    const seen = byHash.get(p.submissionHash);
    byHash.set(p.submissionHash, seen && seen.rank >= p.rank ? { ...p, ...seen } : { ...seen, ...p });
  }
  const rows = [...byHash.values()].sort((a, b) => (a.submissionHash < b.submissionHash ? -1 : 1));
  if (rows.length === 0) return;
  // By COPY into this session's staging table, then one upsert from it (see copyRows).
  let text = '';
  for (const r of rows) {
    const fields = [r.submissionHash, r.status, r.rank, iso(r.statusAt), r.source ?? null, r.sourceClient ?? null, r.sourceReference ?? null, iso(r.receivedAt), r.batchId ?? null, r.reviewTrack ?? null];
    text += `${fields.map(copyField).join('\t')}\n`;
  }
  await copyRows(client, 'COPY submission_patches FROM STDIN', text);
  await client.query(`INSERT INTO submissions_recorded AS s (${SUBMISSION_COLUMNS}) SELECT * FROM submission_patches ORDER BY 1 ${MERGE_SUBMISSION}`);
}

async function upsertManifests(client: pg.ClientBase, manifests: BatchManifest[]): Promise<void> {
  const list = [...new Map(manifests.map((m) => [m.batchId, m])).values()].sort((a, b) => (a.batchId < b.batchId ? -1 : 1));
  if (list.length === 0) return;
  await client.query(
    `INSERT INTO batches AS b (batch_id, idempotency_key, partition, member_count, bytes, opened_at, closed_at, close_reason, first_offset, last_offset, archive_key, worker_id)
     SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::int[], $5::bigint[], $6::timestamptz[], $7::timestamptz[], $8::text[], $9::bigint[], $10::bigint[], $11::text[], $12::text[]) ORDER BY 1
     ON CONFLICT (batch_id) DO UPDATE SET
       idempotency_key = EXCLUDED.idempotency_key, partition = EXCLUDED.partition, member_count = EXCLUDED.member_count, bytes = EXCLUDED.bytes,
       opened_at = EXCLUDED.opened_at, closed_at = EXCLUDED.closed_at, close_reason = EXCLUDED.close_reason, first_offset = EXCLUDED.first_offset,
       last_offset = EXCLUDED.last_offset, archive_key = EXCLUDED.archive_key, worker_id = EXCLUDED.worker_id, updated_at = now()`,
    [
      list.map((m) => m.batchId),
      list.map((m) => m.idempotencyKey),
      list.map((m) => m.partition),
      list.map((m) => m.count),
      list.map((m) => m.bytes),
      list.map((m) => iso(m.openedAt)),
      list.map((m) => iso(m.closedAt)),
      list.map((m) => m.closeReason),
      list.map((m) => m.firstOffset),
      list.map((m) => m.lastOffset),
      list.map((m) => m.archiveKey),
      list.map((m) => m.workerId),
    ],
  );
  const members = list.flatMap((m) => m.members.map((hash, position) => ({ batchId: m.batchId, hash, position })));
  await client.query(
    'INSERT INTO batch_members (batch_id, submission_hash, position) SELECT * FROM unnest($1::text[], $2::text[], $3::int[]) ON CONFLICT DO NOTHING',
    [members.map((m) => m.batchId), members.map((m) => m.hash), members.map((m) => m.position)],
  );
}

/** Dead letters new to the table (a duplicate has no effect on `submissions`), in one statement. */
async function insertDeadLetters(client: pg.ClientBase, records: Extract<SinkRecord, { kind: 'dead-letter' }>[]): Promise<Extract<SinkRecord, { kind: 'dead-letter' }>[]> {
  if (records.length === 0) return [];
  const rows = records.map(({ row: d }, index) => ({
    index,
    submission_hash: d.submissionHash,
    batch_id: d.batchId,
    stage: d.stage,
    consumer_group: d.consumerGroup,
    error_class: d.errorClass,
    error_message: d.errorMessage,
    error_chain: d.errorChain,
    attempt: d.attempt,
    first_failure_at: iso(d.firstFailureAt),
    last_failure_at: iso(d.lastFailureAt),
    original_topic: d.originalTopic,
    original_partition: d.originalPartition,
    original_offset: String(d.originalOffset),
    trace_id: d.traceId,
    worker_id: d.workerId,
  }));
  // Two letters of one batch for the same original record: the first wins, as it did row by row.
  const { rows: inserted } = await client.query<{ index: number }>(
    `WITH input AS (
       SELECT * FROM json_to_recordset($1::json) AS r("index" int, submission_hash text, batch_id text, stage text, consumer_group text, error_class text, error_message text,
                                                     error_chain text[], attempt int, first_failure_at timestamptz, last_failure_at timestamptz, original_topic text,
                                                     original_partition int, original_offset bigint, trace_id text, worker_id text)
     ), added AS (
       INSERT INTO dead_letters (submission_hash, batch_id, stage, consumer_group, error_class, error_message, error_chain, attempt, first_failure_at, last_failure_at, original_topic, original_partition, original_offset, trace_id, worker_id)
       SELECT DISTINCT ON (consumer_group, original_topic, original_partition, original_offset)
              submission_hash, batch_id, stage, consumer_group, error_class, error_message, error_chain, attempt, first_failure_at, last_failure_at, original_topic, original_partition, original_offset, trace_id, worker_id
         FROM input ORDER BY consumer_group, original_topic, original_partition, original_offset, "index"
       ON CONFLICT ON CONSTRAINT dead_letters_once DO NOTHING
       RETURNING consumer_group, original_topic, original_partition, original_offset
     )
     SELECT min(i."index") AS "index" FROM added a
       JOIN input i USING (consumer_group, original_topic, original_partition, original_offset)
      GROUP BY a.consumer_group, a.original_topic, a.original_partition, a.original_offset`,
    [JSON.stringify(rows)],
  );
  const added = new Set(inserted.map((r) => r.index));
  return records.filter((_, index) => added.has(index));
}

/**
 * Locks the batches (creating placeholder rows), recounts their terminal members and publishes
 * the permits of those now complete. Must run after this transaction's own changes. Terminal
 * states (accepted, rejected, dead_lettered) are always recorded (only READ_FROM_EVENTS states
 * are not), so the counts read `submissions_recorded` itself and ask the view (its event
 * look-up) only whether a dead letter is still one.
 */
async function settleBatches(client: pg.ClientBase, batchIds: string[]): Promise<string[]> {
  const ids = [...new Set(batchIds)].sort();
  if (ids.length === 0) return [];
  await client.query('INSERT INTO batches (batch_id) SELECT id FROM unnest($1::text[]) AS id ORDER BY id ON CONFLICT DO NOTHING', [ids]);
  await client.query('SELECT batch_id FROM batches WHERE batch_id = ANY($1) ORDER BY batch_id FOR UPDATE', [ids]);
  const { rows } = await client.query<{ batch_id: string; newly_complete: boolean }>(
    `WITH counts AS (
       SELECT m.batch_id,
              count(*) FILTER (WHERE s.status = 'accepted') AS accepted,
              count(*) FILTER (WHERE s.status = 'rejected') AS rejected,
              -- A dead letter may since have been replayed past (an event of a higher rank): then
              -- it is in flight again. The view decides, with its own rank rule; dead letters are few.
              count(*) FILTER (WHERE s.status = 'dead_lettered'
                                 AND (SELECT v.status FROM submissions v WHERE v.submission_hash = s.submission_hash) = 'dead_lettered') AS dead_lettered
         FROM batch_members m LEFT JOIN submissions_recorded s ON s.submission_hash = m.submission_hash
        WHERE m.batch_id = ANY($1)
        GROUP BY m.batch_id
     ), updated AS (
       UPDATE batches b SET
         accepted_count = c.accepted, rejected_count = c.rejected, dead_lettered_count = c.dead_lettered,
         complete = b.member_count IS NOT NULL AND c.accepted + c.rejected + c.dead_lettered >= b.member_count,
         completed_at = CASE WHEN b.completed_at IS NULL AND b.member_count IS NOT NULL AND c.accepted + c.rejected + c.dead_lettered >= b.member_count THEN now() ELSE b.completed_at END,
         updated_at = now()
       FROM counts c, (SELECT batch_id, complete FROM batches WHERE batch_id = ANY($1)) AS before
       WHERE b.batch_id = c.batch_id AND before.batch_id = c.batch_id
       RETURNING b.batch_id, b.complete, b.complete AND NOT before.complete AS newly_complete
     )
     SELECT batch_id, newly_complete FROM updated WHERE complete`,
    [ids],
  );
  const complete = rows.map((r) => r.batch_id);
  if (complete.length > 0) {
    // Also for batches completed earlier: a member dead-lettered then replayed and accepted joins its batch's permits.
    await client.query(
      `INSERT INTO permits (submission_hash, batch_id, jurisdiction, permit_type, parcel_number, review_track, computed_fee_cents, warnings, accepted_at)
       SELECT e.submission_hash, m.batch_id, e.detail->>'jurisdiction', e.detail->>'permitType', e.detail->>'parcelNumber', e.detail->>'reviewTrack',
              (e.detail->>'computedFeeCents')::bigint, ARRAY(SELECT jsonb_array_elements_text(e.detail->'warnings')), e.at
         FROM batch_members m
         JOIN submissions_recorded s ON s.submission_hash = m.submission_hash AND s.status = 'accepted'
         JOIN submission_events e ON e.submission_hash = m.submission_hash AND e.state = 'accepted'
        WHERE m.batch_id = ANY($1)
        ORDER BY e.submission_hash
       ON CONFLICT (submission_hash) DO NOTHING`,
      [complete],
    );
  }
  return rows.filter((r) => r.newly_complete).map((r) => r.batch_id);
}

/**
 * Applies one consumed batch in one transaction (see the header comment). The statements
 * without parameters share round trips (simple query protocol, several statements in one
 * message): BEGIN with the offset lock, and the offset update with COMMIT; the offset row's
 * key is sent as escaped literals.
 */
export async function applyBatch(client: pg.ClientBase, batch: SinkBatch): Promise<ApplyResult> {
  await prepareStaging(client);
  const [group, topic, partition] = [pg.escapeLiteral(batch.group), pg.escapeLiteral(batch.topic), Math.trunc(batch.partition)];
  const offsetKey = `consumer_group = ${group} AND topic = ${topic} AND partition = ${partition}`;
  const storeOffsetAndCommit = `UPDATE sink_offsets SET next_offset = ${batch.nextOffset.toString()}, updated_at = now() WHERE ${offsetKey}; COMMIT`;
  // Asynchronous commit loses no record: the offset is in the same transaction, so a PostgreSQL
  // crash that forgets the last commits forgets their offsets too and the sink reads them again
  // from Kafka (its committed Kafka offsets are never trusted, see sink.ts).
  try {
    // The offset row is created if new and locked in the same round trip (the no-op update takes the row lock).
    const begun = (await client.query(
      `BEGIN; SET LOCAL synchronous_commit TO off;
       INSERT INTO sink_offsets AS o (consumer_group, topic, partition, next_offset) VALUES (${group}, ${topic}, ${partition}, 0)
       ON CONFLICT (consumer_group, topic, partition) DO UPDATE SET next_offset = o.next_offset
       RETURNING next_offset`,
    )) as unknown as pg.QueryResult[];
    const stored = BigInt((begun.at(-1) as pg.QueryResult<{ next_offset: string }>).rows[0]!.next_offset);
    const fresh = batch.records.filter((r) => r.offset >= stored);
    const result: ApplyResult = { applied: fresh.length, skipped: batch.records.length - fresh.length, duplicates: 0, completedBatches: [] };
    if (batch.nextOffset <= stored) {
      await client.query('COMMIT');
      return result;
    }

    const states = fresh.filter((r): r is Extract<SinkRecord, { kind: 'state' }> => r.kind === 'state');
    // Only state records, none a decision: nothing to settle, so the offset and COMMIT go with the events.
    const eventsOnly = states.length === fresh.length && states.every((r) => r.event.state !== 'accepted' && r.event.state !== 'rejected');
    const present = await insertEvents(client, batch.topic, batch.partition, states, eventsOnly ? storeOffsetAndCommit : '');
    const newStates = states.filter((r) => !present.has(`${r.event.submissionHash}/${r.event.state}`));
    result.duplicates = states.length - newStates.length;
    if (eventsOnly) return result;
    const letters = await insertDeadLetters(client, fresh.filter((r): r is Extract<SinkRecord, { kind: 'dead-letter' }> => r.kind === 'dead-letter'));
    const dlqCount = fresh.filter((r) => r.kind === 'dead-letter').length;
    result.duplicates += dlqCount - letters.length;

    // A dead letter without a batch id may still name a member of a known batch.
    const unbatched = letters.filter((l) => l.row.batchId === null && l.row.submissionHash !== null).map((l) => l.row.submissionHash!);
    const { rows: memberOf } = unbatched.length === 0 ? { rows: [] } : await client.query<{ batch_id: string }>('SELECT batch_id FROM batch_members WHERE submission_hash = ANY($1)', [unbatched]);

    await upsertSubmissions(client, letters.flatMap((l) => (l.patch ? [l.patch] : [])));
    const manifests = fresh.flatMap((r) => (r.kind === 'manifest' ? [r.manifest] : []));
    await upsertManifests(client, manifests);
    const unreadable = fresh.flatMap((r) => (r.kind === 'unreadable' ? [r] : []));
    if (unreadable.length > 0) {
      await client.query('INSERT INTO unreadable_records (topic, partition, "offset", error) SELECT $1, $2, * FROM unnest($3::bigint[], $4::text[]) ON CONFLICT DO NOTHING', [
        batch.topic,
        batch.partition,
        unreadable.map((u) => u.offset.toString()),
        unreadable.map((u) => u.error),
      ]);
    }

    const touched = [
      ...newStates.filter((r) => r.event.state === 'accepted' || r.event.state === 'rejected').flatMap((r) => (r.event.batchId ? [r.event.batchId] : [])),
      ...letters.flatMap((l) => (l.row.batchId ? [l.row.batchId] : [])),
      ...memberOf.map((r) => r.batch_id),
      ...manifests.map((m) => m.batchId),
    ];
    result.completedBatches = await settleBatches(client, touched);

    await client.query(storeOffsetAndCommit);
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}
