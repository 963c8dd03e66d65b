-- Issue 13: the decision's update of a submission's row can stay on its page.
--
-- Nothing reads `submissions` through batch_id (the timeline reads a submission by its hash,
-- batch settlement goes through batch_members), but the sink fills batch_id at the decision:
-- with this index every such update added an entry to each of the table's indexes. Without it
-- no indexed column changes at the decision, so PostgreSQL can update the row in place (HOT)
-- where the page has room (fillfactor 70, migration 0002).
DROP INDEX submissions_batch;
