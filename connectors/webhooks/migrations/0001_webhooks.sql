-- Webhook subscriptions and their outbox. PostgreSQL, not a compacted topic: the outbox needs
-- per-delivery state changed in place (attempts, next attempt, delivered, dead) and queried by
-- subscriber and due time, which a log cannot give; the subscriptions sit beside it so one
-- transaction can fan an event out to exactly the subscriptions that exist at that moment.

CREATE TABLE subscriptions (
  id text PRIMARY KEY,
  client text NOT NULL,
  url text NOT NULL,
  event_types text[] NOT NULL,
  -- Standard Webhooks secret (whsec_<base64>): needed in clear to sign; never logged or listed.
  secret text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  -- Which notifier instance delivers this subscription's queue, until when (one sender per queue keeps its order).
  lease_owner text,
  lease_until timestamptz
);

CREATE TABLE events (
  id text PRIMARY KEY,
  type text NOT NULL,
  submission_hash text,
  batch_id text,
  occurred_at timestamptz NOT NULL,
  -- Order within a submission: received (0) before its decision (1), whatever order the topics were read in.
  rank smallint NOT NULL DEFAULT 0,
  -- The event this one follows (a decision: its submission's received event), held back until that one is queued.
  after_id text,
  -- The exact body that is signed and sent, the same on every attempt.
  body text NOT NULL
);

CREATE TABLE deliveries (
  seq bigserial PRIMARY KEY,
  subscription_id text NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
  event_id text NOT NULL REFERENCES events (id),
  status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'dead')),
  attempts integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  enqueued_at timestamptz NOT NULL DEFAULT now(),
  delivered_at timestamptz,
  last_status integer,
  last_error text,
  UNIQUE (subscription_id, event_id)
);

-- The head of each subscriber's queue.
CREATE INDEX deliveries_pending ON deliveries (subscription_id, seq) WHERE status = 'pending';
CREATE INDEX deliveries_dead ON deliveries (subscription_id, seq) WHERE status = 'dead';
