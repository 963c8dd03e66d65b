/**
 * Subscriptions and the per-subscriber outbox in PostgreSQL (schema WEBHOOKS_SCHEMA, versioned
 * migrations in `migrations/`, applied by the read model's migrator).
 *
 * The notifier's consumer writes each event once (`events`) and one delivery row per matching
 * subscription (`deliveries`, unique per subscription and event) in one transaction, before it
 * commits its Kafka offsets: a crash in between redelivers the records, and the unique keys
 * make the second write a no-op. Each subscriber's queue is its pending deliveries in `seq`
 * order; the dispatcher drains the queues independently.
 *
 * A subscription matches the events of its client's submissions (the received record's
 * `sourceClient`) unless it is for all clients (operators; the only kind that may take
 * `batch.completed`, since a batch mixes clients' submissions).
 */
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import type { Config } from '../../lib/config.ts';
import { PermitflowError } from '../../lib/errors.ts';
import { migrate, quoteIdent, readMigrations } from '../read-model/migrate.ts';
import type { EventType, WebhookEvent } from './events.ts';

const MIGRATIONS = join(dirname(fileURLToPath(import.meta.url)), 'migrations');

export function createWebhookPool(config: Config, options: { applicationName?: string; max?: number } = {}): pg.Pool {
  const pool = new pg.Pool({
    connectionString: config.database.url,
    max: options.max ?? 4,
    application_name: options.applicationName ?? `permitflow-webhooks-${config.workerId}`,
    options: `-c search_path=${quoteIdent(config.webhooks.schema)}`,
    connectionTimeoutMillis: 10_000,
    idleTimeoutMillis: 30_000,
  });
  pool.on('error', () => undefined);
  return pool;
}

export const migrateWebhooks = (pool: pg.Pool, schema: string): Promise<number[]> => migrate(pool, schema, readMigrations(MIGRATIONS));

export interface Subscription {
  id: string;
  /** The client it belongs to; it gets the events of this client's submissions. */
  client: string;
  /** Operator-level: the events of every client's submissions, and batch.completed. */
  allClients: boolean;
  url: string;
  eventTypes: EventType[];
  createdAt: Date;
}

export interface SubscriptionWithSecret extends Subscription {
  secret: string;
}

export interface SubscriptionStats extends Subscription {
  pending: number;
  delivered: number;
  dead: number;
  oldestPendingAt: Date | null;
}

/** A Standard Webhooks secret: `whsec_` and 32 random bytes in base64. */
export const newSecret = (): string => `whsec_${randomBytes(32).toString('base64')}`;

export async function addSubscription(pool: pg.Pool, input: { client: string; allClients?: boolean; url: string; eventTypes: readonly EventType[] }): Promise<SubscriptionWithSecret> {
  const allClients = input.allClients ?? false;
  if (!allClients && input.eventTypes.includes('batch.completed')) {
    throw PermitflowError.permanent('PF_WEBHOOK_EVENT_TYPES', `batch.completed lists the submissions of every client in the batch: only a subscription for all clients (--all-clients) may take it, not one scoped to ${input.client}`);
  }
  const id = `sub_${randomBytes(8).toString('hex')}`;
  const secret = newSecret();
  const { rows } = await pool.query<{ created_at: Date }>('INSERT INTO subscriptions (id, client, all_clients, url, event_types, secret) VALUES ($1, $2, $3, $4, $5, $6) RETURNING created_at', [id, input.client, allClients, input.url, [...input.eventTypes], secret]);
  return { id, client: input.client, allClients, url: input.url, eventTypes: [...input.eventTypes], createdAt: rows[0]!.created_at, secret };
}

/** Deletes subscription `id` and its queue (only if it belongs to `ofClient`, when given); false if there is no such subscription. */
export async function removeSubscription(pool: pg.Pool, id: string, ofClient?: string): Promise<boolean> {
  // Its deliveries go with it (ON DELETE CASCADE).
  const { rowCount } = await pool.query('DELETE FROM subscriptions WHERE id = $1 AND ($2::text IS NULL OR client = $2)', [id, ofClient ?? null]);
  return (rowCount ?? 0) > 0;
}

/** Subscriptions (of one client, when given) with their queue's counts; never the secrets. */
export async function listSubscriptions(pool: pg.Pool, ofClient?: string): Promise<SubscriptionStats[]> {
  const { rows } = await pool.query<{ id: string; client: string; all_clients: boolean; url: string; event_types: EventType[]; created_at: Date; pending: string; delivered: string; dead: string; oldest_pending_at: Date | null }>(
    `SELECT s.id, s.client, s.all_clients, s.url, s.event_types, s.created_at,
            count(*) FILTER (WHERE d.status = 'pending') AS pending,
            count(*) FILTER (WHERE d.status = 'delivered') AS delivered,
            count(*) FILTER (WHERE d.status = 'dead') AS dead,
            min(d.enqueued_at) FILTER (WHERE d.status = 'pending') AS oldest_pending_at
       FROM subscriptions s LEFT JOIN deliveries d ON d.subscription_id = s.id
      WHERE $1::text IS NULL OR s.client = $1
      GROUP BY s.id ORDER BY s.created_at, s.id`,
    [ofClient ?? null],
  );
  return rows.map((r) => ({ id: r.id, client: r.client, allClients: r.all_clients, url: r.url, eventTypes: r.event_types, createdAt: r.created_at, pending: Number(r.pending), delivered: Number(r.delivered), dead: Number(r.dead), oldestPendingAt: r.oldest_pending_at }));
}

export async function subscriptionsWithSecrets(pool: pg.Pool): Promise<SubscriptionWithSecret[]> {
  const { rows } = await pool.query<{ id: string; client: string; all_clients: boolean; url: string; event_types: EventType[]; created_at: Date; secret: string }>('SELECT id, client, all_clients, url, event_types, created_at, secret FROM subscriptions ORDER BY id');
  return rows.map((r) => ({ id: r.id, client: r.client, allClients: r.all_clients, url: r.url, eventTypes: r.event_types, createdAt: r.created_at, secret: r.secret }));
}

/** Advisory lock class of queuing, per partition number (the second key). */
const ENQUEUE_LOCK_CLASS = 0x7066_0018;

/**
 * Stores `events` and queues each for every subscription of its type that matches its client
 * (or takes all clients), in one transaction (idempotent: an event or delivery already there is
 * left as it is). Returns the deliveries queued now, by subscription.
 *
 * A decision's record does not name the client: it is taken from the submission's received
 * event. The notifier reads the topics independently, so a decision may be stored first; the
 * received event, when stored, then queues the decisions that were waiting for their client.
 * Both are on the same partition number (co-partitioned topics), so batches of that partition
 * number queue one at a time (`partition`): otherwise each could miss the other's uncommitted
 * rows and the decision would never be queued for its client.
 */
export async function enqueue(pool: pg.Pool, events: readonly WebhookEvent[], partition?: number): Promise<Map<string, number>> {
  const queued = new Map<string, number>();
  if (events.length === 0) return queued;
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    if (partition !== undefined) await client.query('SELECT pg_advisory_xact_lock($1::int, $2::int)', [ENQUEUE_LOCK_CLASS, partition]);
    const { rows } = await client.query<{ subscription_id: string; n: string }>(
      `WITH e AS (
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::text[], $7::smallint[], $8::text[], $9::text[])
                  WITH ORDINALITY AS e(id, type, submission_hash, batch_id, occurred_at, body, rank, after_id, client, n)),
       -- A decision's client: its submission's received event's, if that one is stored already.
       r AS (
         SELECT e.*, coalesce(e.client, (SELECT x.client FROM events x WHERE x.id = e.after_id)) AS owner FROM e),
       stored AS (
         INSERT INTO events (id, type, submission_hash, batch_id, occurred_at, body, rank, after_id, client)
         SELECT id, type, submission_hash, batch_id, occurred_at, body, rank, after_id, owner FROM r
          -- History nobody subscribes to is not kept; received events are, while anyone subscribes
          -- to anything: their client is what their decisions are matched on.
          WHERE EXISTS (SELECT 1 FROM subscriptions s WHERE r.type = ANY (s.event_types) OR r.type = 'submission.received')
         ON CONFLICT (id) DO NOTHING),
       -- Decisions stored before their received event, now that their client is known.
       late AS (
         SELECT x.id, x.type, r.owner, r.n FROM r JOIN events x ON x.after_id = r.id AND x.client IS NULL
          WHERE r.type = 'submission.received' AND r.owner IS NOT NULL),
       learned AS (
         UPDATE events x SET client = late.owner FROM late WHERE x.id = late.id),
       inserted AS (
         -- WITH ORDINALITY keeps the records' order in seq, each subscriber's queue order (a late
         -- decision right after its received event).
         INSERT INTO deliveries (subscription_id, event_id)
         SELECT s.id, q.id
           FROM (SELECT id, type, owner, n, 0 AS late FROM r UNION ALL SELECT id, type, owner, n, 1 FROM late) q
           JOIN subscriptions s ON q.type = ANY (s.event_types) AND (s.all_clients OR s.client = q.owner)
          ORDER BY q.n, q.late, s.id
         ON CONFLICT (subscription_id, event_id) DO NOTHING
         RETURNING subscription_id)
       SELECT subscription_id, count(*) AS n FROM inserted GROUP BY subscription_id`,
      [
        events.map((e) => e.id),
        events.map((e) => e.type),
        events.map((e) => e.submissionHash),
        events.map((e) => e.batchId),
        events.map((e) => e.occurredAt),
        events.map((e) => e.body),
        events.map((e) => e.rank),
        events.map((e) => e.afterId),
        events.map((e) => e.client),
      ],
    );
    await client.query('COMMIT');
    for (const r of rows) queued.set(r.subscription_id, Number(r.n));
    return queued;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

/** Takes or renews the right to send `subscriptionId`'s queue until `leaseMs` from now. */
export async function claimLease(pool: pg.Pool, subscriptionId: string, owner: string, leaseMs: number): Promise<boolean> {
  const { rowCount } = await pool.query(
    `UPDATE subscriptions SET lease_owner = $2, lease_until = now() + $3 * interval '1 millisecond'
      WHERE id = $1 AND (lease_owner = $2 OR lease_until IS NULL OR lease_until < now())`,
    [subscriptionId, owner, leaseMs],
  );
  return (rowCount ?? 0) > 0;
}

export async function releaseLease(pool: pg.Pool, subscriptionId: string, owner: string): Promise<void> {
  await pool.query('UPDATE subscriptions SET lease_owner = NULL, lease_until = NULL WHERE id = $1 AND lease_owner = $2', [subscriptionId, owner]);
}

export interface QueuedDelivery {
  seq: string;
  /** What delivery order is kept within: the submission, or the batch of a batch event. */
  orderKey: string;
  /** Order within `orderKey`: lower ranks go first. */
  rank: number;
  /** Waiting for the event it follows to be queued. */
  held: boolean;
  eventId: string;
  body: string;
  attempts: number;
  nextAttemptAt: Date;
  enqueuedAt: Date;
}

/**
 * The head of a subscriber's queue: its oldest pending deliveries, each with the rank it has
 * within its submission, and whether it is held: a decision whose submission's received event
 * this subscriber takes is held while that event is pending, and while it is not queued yet
 * (the notifier reads the topics independently, so a decision can be read first) for at most
 * `holdMs` after the decision was queued.
 */
export async function queueHead(pool: pg.Pool, subscriptionId: string, limit: number, holdMs: number): Promise<QueuedDelivery[]> {
  const { rows } = await pool.query<{ seq: string; order_key: string; rank: number; held: boolean; event_id: string; body: string; attempts: number; next_attempt_at: Date; enqueued_at: Date }>(
    `SELECT d.seq, coalesce(e.submission_hash, e.batch_id, e.id) AS order_key, e.rank, d.event_id, e.body, d.attempts, d.next_attempt_at, d.enqueued_at,
            (e.after_id IS NOT NULL AND 'submission.received' = ANY (s.event_types) AND (
               EXISTS (SELECT 1 FROM deliveries b WHERE b.subscription_id = d.subscription_id AND b.event_id = e.after_id AND b.status = 'pending')
               OR (d.enqueued_at > now() - $3 * interval '1 millisecond'
                   AND NOT EXISTS (SELECT 1 FROM deliveries b WHERE b.subscription_id = d.subscription_id AND b.event_id = e.after_id)))) AS held
       FROM deliveries d JOIN events e ON e.id = d.event_id JOIN subscriptions s ON s.id = d.subscription_id
      WHERE d.subscription_id = $1 AND d.status = 'pending'
      ORDER BY d.seq LIMIT $2`,
    [subscriptionId, limit, holdMs],
  );
  return rows.map((r) => ({ seq: r.seq, orderKey: r.order_key, rank: r.rank, held: r.held, eventId: r.event_id, body: r.body, attempts: r.attempts, nextAttemptAt: r.next_attempt_at, enqueuedAt: r.enqueued_at }));
}

export async function markDelivered(pool: pg.Pool, delivered: ReadonlyArray<{ seq: string; status: number; attempts: number }>): Promise<void> {
  if (delivered.length === 0) return;
  await pool.query(
    `UPDATE deliveries d SET status = 'delivered', delivered_at = now(), last_status = u.status, last_error = NULL, attempts = u.attempts
       FROM unnest($1::bigint[], $2::int[], $3::int[]) AS u(seq, status, attempts) WHERE d.seq = u.seq`,
    [delivered.map((d) => d.seq), delivered.map((d) => d.status), delivered.map((d) => d.attempts)],
  );
}

export async function markFailed(pool: pg.Pool, failure: { seq: string; attempts: number; nextAttemptAt: Date; dead: boolean; status: number | null; error: string }): Promise<void> {
  await pool.query(
    `UPDATE deliveries SET attempts = $2, next_attempt_at = $3, status = CASE WHEN $4 THEN 'dead' ELSE 'pending' END, last_status = $5, last_error = $6 WHERE seq = $1`,
    [failure.seq, failure.attempts, failure.nextAttemptAt, failure.dead, failure.status, failure.error],
  );
}

export interface ReplayFilter {
  subscriptionId?: string;
  /** Only the subscriptions of this client. */
  client?: string;
  /** Deliveries enqueued at or after this time. */
  since?: Date;
  /** `dead` (default): dead letters; `delivered`: send again what was delivered; `all`: both. */
  status: 'dead' | 'delivered' | 'all';
}

/** Queues matching deliveries again (attempts reset, due now, same event id); returns how many. */
export async function replayDeliveries(pool: pg.Pool, filter: ReplayFilter): Promise<number> {
  const statuses = filter.status === 'all' ? ['dead', 'delivered'] : [filter.status];
  const { rowCount } = await pool.query(
    `UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = now(), last_error = NULL
      WHERE status = ANY ($1::text[]) AND ($2::text IS NULL OR subscription_id = $2) AND ($3::timestamptz IS NULL OR enqueued_at >= $3)
        AND ($4::text IS NULL OR subscription_id IN (SELECT id FROM subscriptions WHERE client = $4))`,
    [statuses, filter.subscriptionId ?? null, filter.since ?? null, filter.client ?? null],
  );
  return rowCount ?? 0;
}

export interface DeliveryRow {
  seq: string;
  subscriptionId: string;
  eventId: string;
  type: string;
  status: string;
  attempts: number;
  lastStatus: number | null;
  lastError: string | null;
}

export async function listDeliveries(pool: pg.Pool, filter: { subscriptionId?: string; client?: string; status?: string; limit: number }): Promise<DeliveryRow[]> {
  const { rows } = await pool.query<{ seq: string; subscription_id: string; event_id: string; type: string; status: string; attempts: number; last_status: number | null; last_error: string | null }>(
    `SELECT d.seq, d.subscription_id, d.event_id, e.type, d.status, d.attempts, d.last_status, d.last_error
       FROM deliveries d JOIN events e ON e.id = d.event_id
      WHERE ($1::text IS NULL OR d.subscription_id = $1) AND ($2::text IS NULL OR d.status = $2)
        AND ($4::text IS NULL OR d.subscription_id IN (SELECT id FROM subscriptions WHERE client = $4))
      ORDER BY d.seq LIMIT $3`,
    [filter.subscriptionId ?? null, filter.status ?? null, filter.limit, filter.client ?? null],
  );
  return rows.map((r) => ({ seq: r.seq, subscriptionId: r.subscription_id, eventId: r.event_id, type: r.type, status: r.status, attempts: r.attempts, lastStatus: r.last_status, lastError: r.last_error }));
}
