-- Issue 13: fewer writes per state record.
--
-- 1. One index fewer per event row. The audit log is read and deduplicated by
--    (submission_hash, state) (submission_events_once: the timeline and the sink's exactly-once
--    check); nothing reads through event_id, so its primary key index was kept up for nothing.
--    The column stays (the sequence still numbers events in arrival order).
ALTER TABLE submission_events DROP CONSTRAINT submission_events_pkey;

-- 2. The sink wrote `submissions` once per state record (five upserts per submission). It now
--    writes the row at `received`, at the decision and at a dead letter only; the states in
--    between (chunked, enriched, validated) are read from the events, which the sink writes
--    anyway. `submissions` becomes a view with the same columns, so every reader (status API,
--    trace, status counts, batch settlement) sees the furthest state as before.
ALTER TABLE submissions RENAME TO submissions_recorded;

CREATE VIEW submissions AS
SELECT r.submission_hash,
       COALESCE(l.state, r.status) AS status,
       COALESCE(l.rank, r.status_rank) AS status_rank,
       COALESCE(l.at, r.status_at) AS status_at,
       r.source, r.source_client, r.source_reference, r.received_at,
       COALESCE(r.batch_id, l.batch_id) AS batch_id,
       r.review_track, r.updated_at
  FROM submissions_recorded r
  LEFT JOIN LATERAL (
    -- Ranks as in connectors/read-model/records.ts STATUS_RANK. A recorded rank of 40 or more
    -- (a decision, the decider's dead letter) is never passed by an intermediate state, so the
    -- event lookup is skipped for decided submissions.
    SELECT e.state, e.at, e.batch_id, m.rank
      FROM submission_events e
      JOIN (VALUES ('chunked', 20::smallint), ('enriched', 30::smallint), ('validated', 40::smallint)) AS m (state, rank) ON m.state = e.state
     WHERE e.submission_hash = r.submission_hash AND r.status_rank < 40 AND m.rank > r.status_rank
     ORDER BY m.rank DESC
     LIMIT 1
  ) l ON true;

-- Rows written to `submissions` (tools, fixtures) land in the table behind it.
CREATE FUNCTION submissions_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO submissions_recorded (submission_hash, status, status_rank, status_at, source, source_client, source_reference, received_at, batch_id, review_track, updated_at)
  VALUES (NEW.submission_hash, NEW.status, NEW.status_rank, NEW.status_at, NEW.source, NEW.source_client, NEW.source_reference, NEW.received_at, NEW.batch_id, NEW.review_track, COALESCE(NEW.updated_at, now()));
  RETURN NEW;
END $$;
CREATE TRIGGER submissions_insert INSTEAD OF INSERT ON submissions FOR EACH ROW EXECUTE FUNCTION submissions_insert();
