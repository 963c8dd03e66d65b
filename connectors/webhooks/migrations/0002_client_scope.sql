-- Subscriptions scoped to a client: a subscription gets the events of the submissions its client
-- sent (the intake's authenticated client, `sourceClient` of the received record), unless it is
-- an operator-level one (`all_clients`), which also takes batch.completed (a batch mixes clients).
-- Subscriptions made before this migration got every event: they keep doing so, explicitly.
ALTER TABLE subscriptions ADD COLUMN all_clients boolean NOT NULL DEFAULT false;
UPDATE subscriptions SET all_clients = true;
ALTER TABLE subscriptions ADD CONSTRAINT batch_events_need_all_clients CHECK (all_clients OR NOT ('batch.completed' = ANY (event_types)));
CREATE INDEX subscriptions_client ON subscriptions (client);

-- The client whose submission the event reports: from the received record, and for a decision
-- from its submission's received event (set when that one is stored, if the decision came first).
ALTER TABLE events ADD COLUMN client text;
-- Decisions still waiting to learn their client (read before their received record).
CREATE INDEX events_client_unknown ON events (after_id) WHERE client IS NULL AND after_id IS NOT NULL;
