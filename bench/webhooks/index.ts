/**
 * Webhook delivery benchmark on the running local stack (a namespace and a PostgreSQL schema of
 * its own, removed afterwards), the notifier in this process, receivers on loopback:
 *
 *   live     two healthy subscribers, state records produced at --rate submissions/s (a
 *            received and a decision each) for --seconds: deliveries/s and the latency from
 *            the record's produce to its receipt (p50, p99, max);
 *   outage   one subscriber down for --outage-s while --outage-rate submissions/s flow, the
 *            other healthy: the healthy one's latency during the outage, then the returning
 *            one's drain (events/s from its return), completeness and order per submission.
 *
 * Usage: see USAGE below (what --help prints).
 * Results are printed and written to bench/results/webhooks-<timestamp>.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseBenchArgs } from '../args.ts';
import { eventId, type EventType } from '../../connectors/webhooks/events.ts';
import { startNotifier } from '../../connectors/webhooks/notifier.ts';
import { addSubscription, createWebhookPool, migrateWebhooks } from '../../connectors/webhooks/store.ts';
import { loadConfig, REPO_ROOT } from '../../lib/config.ts';
import { createKafka } from '../../lib/kafka.ts';
import { createLogger } from '../../lib/logger.ts';
import { createRegistry, createSerde } from '../../schemas/serde.ts';
import { applyTopology } from '../../topology/apply.ts';
import { buildTopology } from '../../topology/topics.ts';
import { freePort } from '../../test/support/ports.ts';
import { startReceiver, stateRecordProducer, type WebhookReceiver } from '../../test/support/webhooks.ts';

const USAGE = 'Usage: node --import tsx bench/webhooks/index.ts [--rate 50] [--seconds 20] [--outage-s 30] [--outage-rate 5]';

const { values: args } = parseBenchArgs('webhooks', USAGE, { options: { rate: { type: 'string', default: '50' }, seconds: { type: 'string', default: '20' }, 'outage-s': { type: 'string', default: '30' }, 'outage-rate': { type: 'string', default: '5' } } });

const percentile = (values: number[], p: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
};
const summary = (latencies: number[]) => ({ n: latencies.length, p50: percentile(latencies, 50), p99: percentile(latencies, 99), max: Math.max(...latencies) });

async function until(what: string, timeoutMs: number, check: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

const namespace = `bwh${Date.now().toString(36)}`;
const schema = `bench_wh_${Date.now().toString(36)}`;
const config = loadConfig({
  ...process.env,
  LOG_LEVEL: 'error',
  PERMITFLOW_TOPIC_NAMESPACE: namespace,
  PERMITFLOW_PARTITIONS: '6',
  WEBHOOKS_SCHEMA: schema,
  WEBHOOKS_ALLOW_PRIVATE_TARGETS: '127.0.0.0/8',
  WEBHOOKS_ALLOW_HTTP: 'true',
  WEBHOOKS_RETRY_BASE_MS: '500',
  WEBHOOKS_RETRY_MAX_MS: '5000',
  WEBHOOKS_BREAKER_RESET_MS: '5000',
});
const logger = createLogger({ level: 'error' });
const topology = buildTopology(config.topology);
const kafka = createKafka(config, logger);
const admin = kafka.admin();
const pool = createWebhookPool(config, { max: 2 });
const receivers: WebhookReceiver[] = [];

/** Produces `perSecond` submissions per second for `seconds`; returns each event's produce time. */
async function flow(producer: Awaited<ReturnType<typeof stateRecordProducer>>, run: string, perSecond: number, seconds: number, onTick?: (elapsedMs: number) => Promise<void>): Promise<{ producedAt: Map<string, number>; hashes: string[] }> {
  const producedAt = new Map<string, number>();
  const hashes: string[] = [];
  const started = Date.now();
  const total = Math.round(perSecond * seconds);
  const pending: Array<Promise<void>> = [];
  for (let n = 0; n < total; n++) {
    const dueAt = started + (n * 1000) / perSecond;
    if (dueAt > Date.now()) await sleep(dueAt - Date.now());
    const hash = producer.hashOf(run, n);
    hashes.push(hash);
    const decision: EventType = n % 3 === 0 ? 'submission.rejected' : 'submission.accepted';
    pending.push(
      (async () => {
        producedAt.set(eventId('submission.received', hash), await producer.received(hash));
        producedAt.set(eventId(decision, hash), await producer.decided(decision === 'submission.rejected' ? 'rejected' : 'accepted', hash));
      })(),
    );
    if (pending.length >= 32) await Promise.all(pending.splice(0));
    await onTick?.(Date.now() - started);
  }
  await Promise.all(pending);
  return { producedAt, hashes };
}

/** Where the time goes: produce to queued (the consumer) and queued to delivered (the dispatcher), p50 and p99 in ms. */
async function split(): Promise<Record<string, number>> {
  const { rows } = await pool.query<Record<string, number>>(
    `SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM d.enqueued_at - e.occurred_at)) * 1000) AS queued_p50,
            round(percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM d.enqueued_at - e.occurred_at)) * 1000) AS queued_p99,
            round(percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM d.delivered_at - d.enqueued_at)) * 1000) AS sent_p50,
            round(percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM d.delivered_at - d.enqueued_at)) * 1000) AS sent_p99
       FROM deliveries d JOIN events e ON e.id = d.event_id WHERE d.status = 'delivered' AND d.attempts = 1`,
  );
  return Object.fromEntries(Object.entries(rows[0] ?? {}).map(([k, v]) => [k, Number(v)]));
}

function inOrder(receiver: WebhookReceiver, hashes: string[]): boolean {
  const position = new Map(receiver.distinct().map((r, i) => [`${r.type}:${r.submissionId ?? ''}`, i]));
  return hashes.every((h) => (position.get(`submission.received:${h}`) ?? Infinity) < (position.get(`submission.accepted:${h}`) ?? position.get(`submission.rejected:${h}`) ?? -1));
}

async function main(): Promise<void> {
  await admin.connect();
  await applyTopology(topology, admin, createSerde(createRegistry(config)));
  await migrateWebhooks(pool, schema);
  const notifier = startNotifier(config, { kafka, serde: createSerde(createRegistry(config)), topology, logger });
  await notifier.started;
  const producer = await stateRecordProducer(config, topology);
  const results: Record<string, unknown> = { at: new Date().toISOString(), args };
  try {
    // live: two healthy subscribers.
    const a = await startReceiver();
    const b = await startReceiver();
    receivers.push(a, b);
    // Scoped to the client the producer's received records name (the sample's `portal`), as integrators' subscriptions are.
    for (const r of [a, b]) r.secret = (await addSubscription(pool, { client: 'portal', url: r.url, eventTypes: ['submission.received', 'submission.accepted', 'submission.rejected'] })).secret;
    const rate = Number(args.rate);
    const seconds = Number(args.seconds);
    const liveStart = Date.now();
    const live = await flow(producer, `live-${namespace}`, rate, seconds);
    await until('live deliveries', 120_000, () => a.distinct().length >= live.producedAt.size && b.distinct().length >= live.producedAt.size);
    const lastAt = Math.max(...[a, b].flatMap((r) => r.received.map((x) => x.arrivedAt)));
    const latencies = [a, b].flatMap((r) => r.distinct().map((x) => x.arrivedAt - live.producedAt.get(x.id)!));
    results.live = {
      events: live.producedAt.size,
      subscribers: 2,
      deliveriesPerSecond: Math.round((2 * live.producedAt.size) / ((lastAt - liveStart) / 1000)),
      latencyMs: summary(latencies),
      allVerified: [a, b].every((r) => r.received.every((x) => x.verified)),
      splitMs: await split(),
      loadAverage: loadavg()[0],
    };
    console.log('live', JSON.stringify(results.live));
    await Promise.all([a.close(), b.close()]);
    await pool.query('DELETE FROM deliveries');
    await pool.query('DELETE FROM subscriptions');

    // outage: one subscriber down for --outage-s.
    const healthy = await startReceiver();
    receivers.push(healthy);
    healthy.secret = (await addSubscription(pool, { client: 'portal', url: healthy.url, eventTypes: ['submission.received', 'submission.accepted', 'submission.rejected'] })).secret;
    const downPort = await freePort();
    const downSecret = (await addSubscription(pool, { client: 'portal', url: `http://127.0.0.1:${downPort}/e`, eventTypes: ['submission.received', 'submission.accepted', 'submission.rejected'] })).secret;
    const outageMs = Number(args['outage-s']) * 1000;
    const outage = await flow(producer, `outage-${namespace}`, Number(args['outage-rate']), outageMs / 1000);
    await until('healthy deliveries', 60_000, () => healthy.distinct().length >= outage.producedAt.size);
    const returnedAt = Date.now();
    const back = await startReceiver({ port: downPort });
    receivers.push(back);
    back.secret = downSecret;
    await until('the returning subscriber drains', 600_000, () => back.distinct().length >= outage.producedAt.size);
    const drainedAt = Math.max(...back.received.map((x) => x.arrivedAt));
    results.outage = {
      outageSeconds: outageMs / 1000,
      events: outage.producedAt.size,
      healthyLatencyMs: summary(healthy.distinct().map((x) => x.arrivedAt - outage.producedAt.get(x.id)!)),
      returning: {
        complete: back.distinct().length === outage.producedAt.size,
        inOrderPerSubmission: inOrder(back, outage.hashes),
        drainSeconds: (drainedAt - returnedAt) / 1000,
        drainEventsPerSecond: Math.round(outage.producedAt.size / ((drainedAt - returnedAt) / 1000)),
        duplicates: back.received.length - back.distinct().length,
        allVerified: back.received.every((x) => x.verified),
      },
      loadAverage: loadavg()[0],
    };
    console.log('outage', JSON.stringify(results.outage));
  } finally {
    await producer.close();
    await notifier.stop();
    await Promise.all(receivers.map((r) => r.close().catch(() => undefined)));
    await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => undefined);
    await pool.end();
    const names = [...Object.values(topology.topics).map((s) => s.name), ...topology.changelogs.map((c) => c.name)];
    const existing = new Set(await admin.listTopics());
    await admin.deleteTopics({ topics: names.filter((n) => existing.has(n)) }).catch(() => undefined);
    await admin.disconnect();
  }
  const dir = join(REPO_ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `webhooks-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify(results, null, 2) + '\n');
  console.log(`written ${file}`);
}

await main();
