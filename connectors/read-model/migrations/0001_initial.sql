-- The read model of the state topics: an append-only event log, the current status of each
-- submission, batches with their terminal counts, accepted permits, dead letters, and the
-- Kafka offsets the sink has applied (stored here, in the same transactions as the rows, so
-- a crash can neither lose nor repeat a record's effect).
--
-- Unqualified names: the migration runner sets search_path to the read model's schema.

CREATE TABLE submission_events (
  event_id          bigserial PRIMARY KEY,
  submission_hash   text        NOT NULL,
  state             text        NOT NULL CHECK (state IN ('received', 'chunked', 'enriched', 'validated', 'accepted', 'rejected')),
  batch_id          text,
  idempotency_key   text        NOT NULL,
  at                timestamptz NOT NULL,
  worker_id         text        NOT NULL,
  attempt           integer     NOT NULL,
  traceparent       text,
  trace_id          text,
  -- The stage's own payload (findings, reasons, lookup outcomes, fee), without personal data.
  detail            jsonb       NOT NULL,
  source_topic      text        NOT NULL,
  source_partition  integer     NOT NULL,
  source_offset     bigint      NOT NULL,
  recorded_at       timestamptz NOT NULL DEFAULT now(),
  -- One row per submission and state: a replayed or duplicated record changes nothing.
  CONSTRAINT submission_events_once UNIQUE (submission_hash, state)
);
CREATE INDEX submission_events_batch ON submission_events (batch_id, state);

-- Append-only: the audit log is never rewritten (dropping the schema rebuilds it from Kafka).
CREATE FUNCTION submission_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'submission_events is append-only (% refused)', TG_OP;
END $$;
CREATE TRIGGER submission_events_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON submission_events
  FOR EACH STATEMENT EXECUTE FUNCTION submission_events_append_only();

CREATE TABLE submissions (
  submission_hash   text        PRIMARY KEY,
  -- The furthest state reached (rank orders states; see connectors/read-model/records.ts).
  status            text        NOT NULL,
  status_rank       smallint    NOT NULL,
  status_at         timestamptz NOT NULL,
  source            text,
  source_client     text,
  source_reference  text,
  received_at       timestamptz,
  batch_id          text,
  review_track      text,
  updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX submissions_source_reference ON submissions (source_reference);
CREATE INDEX submissions_batch ON submissions (batch_id);
CREATE INDEX submissions_status ON submissions (status);

CREATE TABLE batches (
  batch_id            text        PRIMARY KEY,
  -- Null until the manifest is read: a row may exist first, touched by a member's terminal state.
  idempotency_key     text,
  partition           integer,
  member_count        integer,
  bytes               bigint,
  opened_at           timestamptz,
  closed_at           timestamptz,
  close_reason        text,
  first_offset        bigint,
  last_offset         bigint,
  archive_key         text,
  worker_id           text,
  accepted_count      integer     NOT NULL DEFAULT 0,
  rejected_count      integer     NOT NULL DEFAULT 0,
  dead_lettered_count integer     NOT NULL DEFAULT 0,
  -- Every member accepted, rejected or dead-lettered; its permits were published at once.
  complete            boolean     NOT NULL DEFAULT false,
  completed_at        timestamptz,
  updated_at          timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE batch_members (
  batch_id          text    NOT NULL REFERENCES batches (batch_id),
  submission_hash   text    NOT NULL,
  position          integer NOT NULL,
  PRIMARY KEY (batch_id, submission_hash)
);
CREATE INDEX batch_members_submission ON batch_members (submission_hash);

CREATE TABLE permits (
  submission_hash     text        PRIMARY KEY,
  batch_id            text        NOT NULL REFERENCES batches (batch_id),
  jurisdiction        text        NOT NULL,
  permit_type         text        NOT NULL,
  parcel_number       text,
  review_track        text        NOT NULL,
  computed_fee_cents  bigint,
  warnings            text[]      NOT NULL,
  accepted_at         timestamptz NOT NULL,
  source_reference    text,
  published_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX permits_batch ON permits (batch_id);

CREATE TABLE dead_letters (
  dead_letter_id     bigserial   PRIMARY KEY,
  submission_hash    text,
  batch_id           text,
  stage              text        NOT NULL,
  consumer_group     text        NOT NULL,
  error_class        text        NOT NULL,
  error_message      text        NOT NULL,
  error_chain        text[]      NOT NULL,
  attempt            integer     NOT NULL,
  first_failure_at   timestamptz NOT NULL,
  last_failure_at    timestamptz NOT NULL,
  original_topic     text        NOT NULL,
  original_partition integer     NOT NULL,
  original_offset    bigint      NOT NULL,
  trace_id           text,
  worker_id          text        NOT NULL,
  recorded_at        timestamptz NOT NULL DEFAULT now(),
  -- A record is dead-lettered once per consuming group (exactly-once stages); a replay that
  -- fails again is a new original record (new offset), hence a new row.
  CONSTRAINT dead_letters_once UNIQUE (consumer_group, original_topic, original_partition, original_offset)
);
CREATE INDEX dead_letters_submission ON dead_letters (submission_hash);

-- Records of a state topic that could not be decoded: skipped, but never silently.
CREATE TABLE unreadable_records (
  topic       text        NOT NULL,
  partition   integer     NOT NULL,
  "offset"    bigint      NOT NULL,
  error       text        NOT NULL,
  recorded_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (topic, partition, "offset")
);

CREATE TABLE sink_offsets (
  consumer_group text        NOT NULL,
  topic          text        NOT NULL,
  partition      integer     NOT NULL,
  next_offset    bigint      NOT NULL,
  updated_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (consumer_group, topic, partition)
);
