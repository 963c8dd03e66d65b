/**
 * Status webhooks on the real stack: the notifier group reads the state topics, queues events in
 * PostgreSQL and delivers them signed. One subscriber is down for the first 20 s of a 25 s flow
 * of submissions (make test keeps it short; bench/webhooks runs a 5-minute outage): it gets
 * every event afterwards, in order per submission, while the other one gets each within 1 s.
 * A subscription to the cloud metadata address is refused and dead-lettered, and a replay sends
 * delivered events again under the same ids. A SIGKILLed notifier loses nothing: its successor
 * takes the queues over when the lease runs out and resends what was in flight, same ids.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { register } from 'prom-client';
import { eventId } from '../../connectors/webhooks/events.ts';
import { startNotifier, type RunningNotifier } from '../../connectors/webhooks/notifier.ts';
import { addSubscription, listDeliveries, listSubscriptions, replayDeliveries, type SubscriptionWithSecret } from '../../connectors/webhooks/store.ts';
import type { Config } from '../../lib/config.ts';
import { createKafka } from '../../lib/kafka.ts';
import { createLogger } from '../../lib/logger.ts';
import { createRegistry, createSerde } from '../../schemas/serde.ts';
import type { Topology } from '../../topology/topics.ts';
import { spawnCli } from '../support/cli.ts';
import { spawnProcessor, waitFor } from '../support/pipeline.ts';
import { freePort } from '../support/ports.ts';
import { testTopology } from '../support/stack.ts';
import { startReceiver, stateRecordProducer, webhooksTestStore, type DecisionTopic, type WebhookReceiver } from '../support/webhooks.ts';

let config: Config;
let topology: Topology;
let pool: pg.Pool;
const cleanups: Array<() => Promise<unknown>> = [];
const OVERRIDES = {
  WEBHOOKS_ALLOW_PRIVATE_TARGETS: '127.0.0.0/8',
  WEBHOOKS_ALLOW_HTTP: 'true',
  WEBHOOKS_RETRY_BASE_MS: '200',
  WEBHOOKS_RETRY_MAX_MS: '1000',
  WEBHOOKS_BREAKER_MIN_REQUESTS: '3',
  WEBHOOKS_BREAKER_RESET_MS: '1000',
  WEBHOOKS_POLL_MS: '200',
  WEBHOOKS_TIMEOUT_MS: '2000',
  // A SIGKILLed instance's queues are taken over this soon.
  WEBHOOKS_LEASE_MS: '3000',
};

before(async () => {
  const store = await webhooksTestStore('wh', OVERRIDES);
  ({ config, pool } = store);
  cleanups.push(store.drop);
});

after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
});

test('every event reaches a subscriber that was down, in order per submission; the other gets each within 1 s; all signed', async (t) => {
  topology = await testTopology(t, config);
  const healthy = await startReceiver();
  t.after(() => healthy.close());
  const downPort = await freePort();
  let down: WebhookReceiver | undefined;
  t.after(async () => down?.close());

  const subscribe = async (url: string): Promise<SubscriptionWithSecret> => addSubscription(pool, { client: 'operations', allClients: true, url, eventTypes: ['submission.received', 'submission.accepted', 'submission.rejected', 'batch.completed'] });
  const healthySub = await subscribe(healthy.url);
  healthy.secret = healthySub.secret;
  const downSub = await subscribe(`http://127.0.0.1:${downPort}/permitflow/events`);
  const metadataSub = await subscribe('http://169.254.169.254/latest/meta-data/iam/security-credentials/');

  const notifier: RunningNotifier = startNotifier(config, { kafka: createKafka(config, createLogger({ level: 'warn' })), serde: createSerde(createRegistry(config)), topology, logger: createLogger({ level: 'error' }) });
  t.after(() => notifier.stop());
  await notifier.started;

  const producer = await stateRecordProducer(config, topology);
  t.after(() => producer.close());
  const run = `${Date.now()}`;
  const producedAt = new Map<string, number>();
  const hashes: string[] = [];
  const outageMs = 20_000;
  const started = Date.now();
  // 25 submissions over about 25 s: received, then a decision 300 ms later; the down subscriber comes back at 20 s.
  for (let n = 0; n < 25; n++) {
    const hash = producer.hashOf(run, n);
    hashes.push(hash);
    producedAt.set(eventId('submission.received', hash), await producer.received(hash));
    await sleep(300);
    const decision: DecisionTopic = n % 3 === 0 ? 'rejected' : 'accepted';
    producedAt.set(eventId(`submission.${decision}`, hash), await producer.decided(decision, hash));
    if (!down && Date.now() - started >= outageMs) {
      down = await startReceiver({ port: downPort });
      down.secret = downSub.secret;
    }
    await sleep(700);
  }
  producedAt.set(eventId('batch.completed', `batch-${run}`), await producer.manifest(`batch-${run}`, hashes));
  down ??= await startReceiver({ port: downPort });
  down.secret = downSub.secret;
  const back = down;

  const expected = [...producedAt.keys()].sort();
  await waitFor('the healthy subscriber has every event', () => healthy.distinct().length >= expected.length, 10_000, 100);
  await waitFor('the subscriber that was down has every event', () => back.distinct().length >= expected.length, 60_000, 100);

  for (const receiver of [healthy, back]) {
    assert.deepEqual(receiver.distinct().map((r) => r.id).sort(), expected, 'every event, nothing else');
    assert.ok(receiver.received.every((r) => r.verified), 'every request carries a valid Standard Webhooks signature');
    // In order per submission: its received event before its decision.
    const position = new Map(receiver.distinct().map((r, i) => [`${r.type}:${r.submissionId ?? ''}`, i]));
    for (const hash of hashes) {
      const decision = position.get(`submission.accepted:${hash}`) ?? position.get(`submission.rejected:${hash}`);
      assert.ok(decision !== undefined && position.get(`submission.received:${hash}`)! < decision, `order of ${hash.slice(0, 12)}`);
    }
  }
  const latencies = healthy.distinct().map((r) => r.arrivedAt - producedAt.get(r.id)!);
  const worst = Math.max(...latencies);
  t.diagnostic(`healthy subscriber: ${latencies.length} events, worst ${worst} ms from produce to receipt; the other was down ${outageMs / 1000} s`);
  assert.ok(worst < 1_000, `every delivery to the healthy subscriber within 1 s (worst ${worst} ms)`);
  assert.ok(back.received[0]!.arrivedAt - started >= outageMs, 'nothing reached the down subscriber before it came back');

  // The metadata address is refused at the first attempt and dead-lettered, naming why.
  await waitFor('every metadata-address delivery dead-lettered', async () => (await listDeliveries(pool, { subscriptionId: metadataSub.id, status: 'dead', limit: 1000 })).length === expected.length, 10_000, 100);
  const dead = await listDeliveries(pool, { subscriptionId: metadataSub.id, limit: 1000 });
  assert.ok(dead.every((d) => d.status === 'dead' && d.attempts === 1 && /169\.254\.169\.254 is a linkLocal address/.test(d.lastError ?? '')), JSON.stringify(dead[0]));

  // The down subscriber's breaker opened: attempts were skipped (not counted) while it was down.
  const skipped = (await register.getSingleMetric('permitflow_webhook_attempts_total')!.get()).values.find((v) => v.labels.outcome === 'breaker-open')?.value ?? 0;
  assert.ok(skipped > 0, 'the breaker held back attempts while the subscriber was down');
  const downHead = (await listDeliveries(pool, { subscriptionId: downSub.id, limit: 1 }))[0]!;
  t.diagnostic(`down subscriber: first event delivered after ${downHead.attempts} attempts; ${skipped} attempts held back by its breaker`);

  const stats = new Map((await listSubscriptions(pool)).map((s) => [s.id, s]));
  assert.equal(stats.get(downSub.id)?.delivered, expected.length);
  assert.equal(stats.get(downSub.id)?.pending, 0);
  assert.equal(stats.get(healthySub.id)?.delivered, expected.length);

  // Replay: delivered events go again, under the same ids (receivers deduplicate).
  const before = healthy.received.length;
  assert.equal(await replayDeliveries(pool, { subscriptionId: healthySub.id, status: 'delivered' }), expected.length);
  await waitFor('the replayed events', () => healthy.received.length >= before + expected.length, 10_000, 100);
  assert.deepEqual(healthy.received.slice(before).map((r) => r.id).sort(), expected);
  assert.ok(healthy.received.every((r) => r.verified));
});

test('SIGKILL of the notifier mid-delivery: every event still arrives (at least once, same ids), in order per submission', async (t) => {
  // A schema of its own: the first test's notifier must not serve these queues.
  const { config: crashConfig, pool: crashPool, drop } = await webhooksTestStore('wh_crash', OVERRIDES);
  cleanups.push(drop);
  const crashTopology = await testTopology(t, crashConfig);
  // A receiver slow enough that the kill lands with deliveries in flight and queued.
  const receiver = await startReceiver({ delayMs: 30 });
  t.after(() => receiver.close());
  receiver.secret = (await addSubscription(crashPool, { client: 'agency', url: receiver.url, eventTypes: ['submission.received', 'submission.accepted', 'submission.rejected'] })).secret;
  const env = { ...OVERRIDES, WEBHOOKS_SCHEMA: crashConfig.webhooks.schema, PERMITFLOW_TOPIC_NAMESPACE: crashConfig.topology.namespace, PERMITFLOW_PARTITIONS: String(crashConfig.topology.partitions), LOG_LEVEL: 'warn' };

  const producer = await stateRecordProducer(crashConfig, crashTopology);
  t.after(() => producer.close());
  const run = `crash-${Date.now()}`;
  const hashes: string[] = [];
  const produce = async (from: number, to: number) => {
    for (let n = from; n < to; n++) {
      const hash = producer.hashOf(run, n);
      hashes.push(hash);
      await producer.received(hash, 'agency');
      await producer.decided(n % 2 === 0 ? 'accepted' : 'rejected', hash);
    }
  };
  await produce(0, 80);
  const first = spawnProcessor(t, 'notifier', env);
  await waitFor('deliveries under way', () => receiver.distinct().length >= 40, 60_000, 100);
  first.kill('SIGKILL');
  await once(first, 'exit');
  const atKill = receiver.distinct().length;
  await produce(80, 100);
  spawnProcessor(t, 'notifier', env);
  await waitFor('every event after the restart', () => receiver.distinct().length >= 2 * hashes.length, 90_000, 100);

  const expected = hashes.flatMap((h, n) => [eventId('submission.received', h), eventId(n % 2 === 0 ? 'submission.accepted' : 'submission.rejected', h)]).sort();
  assert.ok(atKill < expected.length, 'the kill landed before everything was delivered');
  assert.deepEqual(receiver.distinct().map((r) => r.id).sort(), expected);
  assert.ok(receiver.received.every((r) => r.verified));
  const position = new Map(receiver.distinct().map((r, i) => [`${r.type}:${r.submissionId ?? ''}`, i]));
  for (const hash of hashes) {
    const decision = position.get(`submission.accepted:${hash}`) ?? position.get(`submission.rejected:${hash}`);
    assert.ok(decision !== undefined && position.get(`submission.received:${hash}`)! < decision, `order of ${hash.slice(0, 12)}`);
  }
  t.diagnostic(`killed at ${atKill} of ${expected.length} events; ${receiver.received.length - receiver.distinct().length} sent twice (same webhook-id)`);
});

test('permitflow webhooks: add refuses the metadata address, prints the secret once; list never shows it; deliveries, replay, remove', async (t) => {
  const env = { WEBHOOKS_SCHEMA: `${config.webhooks.schema}_cli`, WEBHOOKS_ALLOW_PRIVATE_TARGETS: '127.0.0.0/8', WEBHOOKS_ALLOW_HTTP: 'true', LOG_LEVEL: 'warn' };
  cleanups.push(() => pool.query(`DROP SCHEMA IF EXISTS "${env.WEBHOOKS_SCHEMA}" CASCADE`));
  const cli = async (...args: string[]) => {
    const run = spawnCli(t, ['webhooks', ...args], env);
    const [code] = await run.exited;
    return { code, stdout: run.stdout(), stderr: run.stderr() };
  };
  const refused = await cli('add', '--client', 'portal', '--url', 'http://169.254.169.254/latest/meta-data/');
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /webhook target refused: 169\.254\.169\.254 is a linkLocal address/);

  // A batch lists every client's submissions: only an all-clients subscription takes batch.completed.
  const batchScoped = await cli('add', '--client', 'portal', '--url', 'http://127.0.0.1:9/hooks', '--events', 'batch.completed');
  assert.equal(batchScoped.code, 1);
  assert.match(batchScoped.stderr, /batch\.completed .*only a subscription for all clients \(--all-clients\)/);

  const added = await cli('add', '--client', 'portal', '--url', 'http://127.0.0.1:9/hooks', '--events', 'submission.accepted,submission.rejected', '--json');
  assert.equal(added.code, 0, added.stderr);
  const subscription = JSON.parse(added.stdout) as { id: string; secret: string; eventTypes: string[] };
  assert.match(subscription.secret, /^whsec_[A-Za-z0-9+/]{43}=$/);
  assert.deepEqual(subscription.eventTypes, ['submission.accepted', 'submission.rejected']);

  const listed = await cli('list');
  assert.equal(listed.code, 0, listed.stderr);
  assert.match(listed.stdout, new RegExp(`${subscription.id}  portal  http://127.0.0.1:9/hooks`));
  assert.ok(!listed.stdout.includes(subscription.secret.slice(6)), 'list never prints the secret');

  const deliveries = await cli('deliveries', '--subscription', subscription.id, '--json');
  assert.equal(deliveries.code, 0, deliveries.stderr);
  assert.deepEqual(JSON.parse(deliveries.stdout), []);
  assert.match((await cli('replay', '--subscription', subscription.id)).stdout, /^0 deliveries queued again/);
  // Removal per client: another client's subscription is not found.
  assert.match((await cli('remove', subscription.id, '--client', 'agency')).stderr, /no subscription .* of client agency/);
  assert.doesNotMatch((await cli('list', '--client', 'agency')).stdout, new RegExp(subscription.id));
  assert.match((await cli('list', '--client', 'portal')).stdout, new RegExp(subscription.id));
  assert.equal((await cli('remove', subscription.id, '--client', 'portal')).code, 0);
  assert.match((await cli('remove', subscription.id)).stderr, /no subscription/);
});
