-- Fewer indexes touched per sink transaction (issue 13). Nothing reads through these two:
-- status counts scan the table anyway, and the timeline reads events by submission hash.
DROP INDEX submissions_status;
DROP INDEX submission_events_batch;
-- Room on each page for the next version of a row: a status change touches no indexed column,
-- so PostgreSQL can update the row in place (HOT) instead of adding an entry to every index.
ALTER TABLE submissions SET (fillfactor = 70);
