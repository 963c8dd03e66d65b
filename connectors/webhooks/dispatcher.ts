/**
 * Drains each subscriber's queue on its own loop, so a slow or dead subscriber only ever holds
 * its own queue. Per subscriber, up to SENDS_AT_ONCE deliveries are in flight, never two of one
 * submission: a submission's events go in queue order, each after the one before it was
 * delivered (or dead-lettered). A failure is retried after an exponential backoff with full
 * jitter while that submission's later events wait behind it. A delivery that keeps
 * failing past WEBHOOKS_GIVE_UP_AFTER_S becomes a dead letter (`webhooks replay` queues it
 * again); a refused target (SSRF guard) is dead at once.
 *
 * Each subscriber also has a circuit breaker (opossum): once its recent attempts mostly fail it
 * opens, and while it is open nothing is sent and no attempt is counted, so an outage costs the
 * subscriber neither requests nor its retry budget; the half-open probe is the next delivery.
 *
 * Several notifier instances share the queues through a lease per subscription (one sender per
 * queue, taken over when its holder stops renewing). Delivery is at least once: a crash between
 * a send and its mark sends that event again, with the same `webhook-id`.
 */
import CircuitBreaker from 'opossum';
import type pg from 'pg';
import { Counter, Gauge, Histogram } from 'prom-client';
import type { Config } from '../../lib/config.ts';
import type { Logger } from '../../lib/logger.ts';
import { mapBounded } from '../../lib/map-bounded.ts';
import type { AttemptResult, WebhookSender } from './sender.ts';
import { claimLease, markDelivered, markFailed, queueHead, releaseLease, subscriptionsWithSecrets, type QueuedDelivery, type SubscriptionWithSecret } from './store.ts';

/** Retries, give-up time, breaker, polling and lease: the `WEBHOOKS_*` options, as configured. */
export interface DispatcherOptions extends Pick<Config['webhooks'], 'retry' | 'giveUpAfterMs' | 'breaker' | 'pollMs' | 'leaseMs'> {
  pool: pg.Pool;
  sender: WebhookSender;
  logger: Logger;
  /** This instance's lease owner name. */
  owner: string;
}

export interface Dispatcher {
  /** New deliveries were queued (by this process's consumer): look now, not at the next poll. */
  wake(): void;
  stop(): Promise<void>;
}

const metrics = {
  attempts: new Counter({ name: 'permitflow_webhook_attempts_total', help: 'Webhook delivery attempts by outcome', labelNames: ['outcome'] }),
  deadLetters: new Counter({ name: 'permitflow_webhook_dead_letters_total', help: 'Webhook deliveries given up (dead letters)' }),
  latency: new Histogram({ name: 'permitflow_webhook_delivery_seconds', help: 'Time from an event being queued to its delivery', buckets: [0.05, 0.1, 0.25, 0.5, 1, 5, 30, 300, 3600] }),
  breaker: new Gauge({ name: 'permitflow_webhook_breaker_state', help: 'Circuit breaker of each subscription: 0 closed, 1 half-open, 2 open', labelNames: ['subscription'] }),
};

const HEAD_BATCH = 200;
/**
 * How long a decision waits for its submission's received event to be queued (both are read
 * from different topics) before it goes alone: the received one may never come for this
 * subscriber (subscribed in between).
 */
const ORDER_HOLD_MS = 5 * 60_000;
/** Requests in flight to one subscriber at once (each to a different submission). */
const SENDS_AT_ONCE = 16;

/** Exponential backoff with full jitter: a random wait up to base x 2^(attempt-1), capped. */
export function backoffMs(attempt: number, retry: DispatcherOptions['retry'], random = Math.random): number {
  return Math.floor(random() * Math.min(retry.maxDelayMs, retry.baseDelayMs * 2 ** Math.min(attempt - 1, 30)));
}

class AttemptFailed extends Error {
  constructor(readonly result: AttemptResult) {
    super(result.error ?? 'failed');
  }
}

export function startDispatcher(options: DispatcherOptions): Dispatcher {
  const { pool, sender, owner } = options;
  const logger = options.logger.child({ component: 'webhook-dispatcher' });
  const stopping = new AbortController();
  const workers = new Map<string, { subscription: SubscriptionWithSecret; done: Promise<void>; stop: AbortController; wake: () => void }>();
  let wakePoller: () => void = () => undefined;

  /** Resolves after `ms`, on a wake-up, or when stopping. */
  function pause(ms: number, signal: AbortSignal, setWake: (wake: () => void) => void): Promise<void> {
    return new Promise((resolve) => {
      const finish = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', finish);
        resolve();
      };
      const timer = setTimeout(finish, Math.max(0, ms));
      signal.addEventListener('abort', finish, { once: true });
      setWake(finish);
    });
  }

  function runWorker(subscription: SubscriptionWithSecret, stop: AbortController): { done: Promise<void>; wake: () => void } {
    const log = logger.child({ subscription: subscription.id, client: subscription.client });
    const breaker = new CircuitBreaker(
      async (delivery: QueuedDelivery) => {
        const result = await sender.send({ eventId: delivery.eventId, url: subscription.url, secret: subscription.secret, body: delivery.body }, stop.signal);
        if (!result.ok) throw new AttemptFailed(result);
        return result;
      },
      { name: subscription.id, timeout: false, errorThresholdPercentage: 50, volumeThreshold: options.breaker.minRequests, resetTimeout: options.breaker.resetMs, rollingCountTimeout: Math.max(10_000, options.breaker.resetMs * 2), enableSnapshots: false,
        // A refused target says nothing about the subscriber's health: it is dead-lettered, not counted.
        errorFilter: (err: unknown) => err instanceof AttemptFailed && err.result.refused === true,
      },
    );
    const state = () => (breaker.closed ? 0 : breaker.halfOpen ? 1 : 2);
    const announce = (event: string) => () => {
      metrics.breaker.set({ subscription: subscription.id }, state());
      log.warn({ breaker: event }, `subscriber circuit breaker ${event}`);
    };
    breaker.on('open', announce('open'));
    breaker.on('halfOpen', announce('halfOpen'));
    breaker.on('close', announce('close'));
    metrics.breaker.set({ subscription: subscription.id }, 0);
    // A wake-up that comes while the queue is being read must not be lost: the next pause returns at once.
    let woken = false;
    let wake: () => void = () => undefined;
    const sleep = (ms: number) => (woken ? Promise.resolve() : pause(ms, stop.signal, (w) => (wake = w)));

    /** One attempt through the breaker: its result, or 'open' when the breaker refused to send. */
    async function attempt(delivery: QueuedDelivery): Promise<AttemptResult | 'open'> {
      try {
        return await breaker.fire(delivery);
      } catch (err) {
        if ((err as { code?: unknown }).code === 'EOPENBREAKER') return 'open';
        return err instanceof AttemptFailed ? err.result : { ok: false, error: (err as Error).message };
      }
    }

    /**
     * Sends one wave from the head of the queue: the oldest pending delivery of each submission
     * (or batch), when due, several at once. A submission's later events wait for its earlier
     * ones, so order holds per submission while different submissions do not wait for each
     * other. Returns how long to wait before looking again.
     */
    async function drain(): Promise<number> {
      woken = false;
      const head = await queueHead(pool, subscription.id, HEAD_BATCH, ORDER_HOLD_MS);
      if (head.length === 0) return options.pollMs;
      // The first of each submission: lowest rank, then queue order.
      const first = new Map<string, QueuedDelivery>();
      for (const delivery of head) {
        const current = first.get(delivery.orderKey);
        if (!current || delivery.rank < current.rank) first.set(delivery.orderKey, delivery);
      }
      const wave: QueuedDelivery[] = [];
      let nextDueIn = options.pollMs;
      for (const delivery of first.values()) {
        if (delivery.held) continue;
        const dueIn = delivery.nextAttemptAt.getTime() - Date.now();
        if (dueIn > 0) nextDueIn = Math.min(nextDueIn, dueIn);
        else wave.push(delivery);
      }
      if (wave.length === 0 || stop.signal.aborted) return nextDueIn;
      const results = await mapBounded(wave, SENDS_AT_ONCE, attempt);
      const delivered: Array<{ seq: string; status: number; attempts: number }> = [];
      let breakerOpen = false;
      let failed = false;
      for (const [i, result] of results.entries()) {
        const delivery = wave[i]!;
        if (result === 'open') {
          // Nothing sent, no attempt counted; the half-open probe comes after the reset time.
          metrics.attempts.inc({ outcome: 'breaker-open' });
          breakerOpen = true;
          continue;
        }
        const attempts = delivery.attempts + 1;
        if (result.ok) {
          metrics.attempts.inc({ outcome: 'delivered' });
          metrics.latency.observe((Date.now() - delivery.enqueuedAt.getTime()) / 1000);
          delivered.push({ seq: delivery.seq, status: result.status ?? 200, attempts });
          continue;
        }
        const dead = result.refused === true || Date.now() - delivery.enqueuedAt.getTime() >= options.giveUpAfterMs;
        const wait = backoffMs(attempts, options.retry);
        metrics.attempts.inc({ outcome: result.refused ? 'refused' : 'failed' });
        await markFailed(pool, { seq: delivery.seq, attempts, nextAttemptAt: new Date(Date.now() + wait), dead, status: result.status ?? null, error: result.error ?? 'failed' });
        if (dead) {
          metrics.deadLetters.inc();
          log.warn({ eventId: delivery.eventId, attempts, error: result.error }, 'webhook delivery dead-lettered');
        } else {
          failed = true;
          log.info({ eventId: delivery.eventId, attempts, error: result.error, retryInMs: wait }, 'webhook delivery failed: will retry');
        }
      }
      await markDelivered(pool, delivered);
      if (breakerOpen) return Math.min(options.breaker.resetMs, options.pollMs * 4);
      // Whatever went through may have unblocked later events; a wave of failures waits for the next due time.
      return delivered.length > 0 || !failed ? 0 : Math.min(options.retry.baseDelayMs, options.pollMs);
    }

    let leaseRenewAt = 0;
    const done = (async () => {
      while (!stop.signal.aborted) {
        try {
          if (Date.now() >= leaseRenewAt) {
            if (!(await claimLease(pool, subscription.id, owner, options.leaseMs))) {
              await sleep(options.pollMs);
              continue;
            }
            leaseRenewAt = Date.now() + options.leaseMs / 3;
          }
          const wait = await drain();
          if (wait > 0) await sleep(wait);
        } catch (err) {
          log.warn({ err }, 'webhook queue could not be read or updated: retrying');
          await sleep(options.pollMs);
        }
      }
      breaker.shutdown();
      metrics.breaker.remove({ subscription: subscription.id });
      await releaseLease(pool, subscription.id, owner).catch(() => undefined);
    })();
    return {
      done,
      wake: () => {
        woken = true;
        wake();
      },
    };
  }

  async function refresh(): Promise<void> {
    const subscriptions = await subscriptionsWithSecrets(pool);
    const current = new Map(subscriptions.map((s) => [s.id, s]));
    for (const [id, worker] of workers) {
      const now = current.get(id);
      // Removed, or changed (a new URL or secret): the worker stops; a new one starts below.
      if (!now || now.url !== worker.subscription.url || now.secret !== worker.subscription.secret) {
        worker.stop.abort();
        workers.delete(id);
      }
    }
    for (const subscription of subscriptions) {
      if (workers.has(subscription.id)) continue;
      const stop = new AbortController();
      stopping.signal.addEventListener('abort', () => stop.abort(), { once: true });
      workers.set(subscription.id, { subscription, stop, ...runWorker(subscription, stop) });
    }
  }

  const poller = (async () => {
    while (!stopping.signal.aborted) {
      try {
        await refresh();
      } catch (err) {
        logger.warn({ err }, 'webhook subscriptions could not be read: retrying');
      }
      await pause(options.pollMs, stopping.signal, (w) => (wakePoller = w));
    }
  })();

  return {
    wake() {
      for (const worker of workers.values()) worker.wake();
      wakePoller();
    },
    async stop() {
      stopping.abort();
      await poller;
      await Promise.all([...workers.values()].map((w) => w.done));
    },
  };
}
