/**
 * Webhook subscriptions scoped to a client, on the real stack: two clients' receivers each get
 * the events of their own submissions only (received and decision, signed, in order), a decision
 * the notifier read before its submission's received record still reaches its client, and an
 * operator's all-clients subscription gets every submission (one with no client too) and the
 * batch.completed event.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type pg from 'pg';
import { eventId } from '../../connectors/webhooks/events.ts';
import { startNotifier } from '../../connectors/webhooks/notifier.ts';
import { addSubscription, listDeliveries, listSubscriptions, replayDeliveries } from '../../connectors/webhooks/store.ts';
import type { Config } from '../../lib/config.ts';
import { createKafka } from '../../lib/kafka.ts';
import { createLogger } from '../../lib/logger.ts';
import { createRegistry, createSerde } from '../../schemas/serde.ts';
import { waitFor } from '../support/pipeline.ts';
import { testTopology } from '../support/stack.ts';
import { startReceiver, stateRecordProducer, webhooksTestStore, type DecisionTopic, type WebhookReceiver } from '../support/webhooks.ts';

let config: Config;
let pool: pg.Pool;
const cleanups: Array<() => Promise<unknown>> = [];

before(async () => {
  const store = await webhooksTestStore('whc', { WEBHOOKS_ALLOW_PRIVATE_TARGETS: '127.0.0.0/8', WEBHOOKS_ALLOW_HTTP: 'true', WEBHOOKS_POLL_MS: '200', WEBHOOKS_RETRY_BASE_MS: '200', WEBHOOKS_RETRY_MAX_MS: '1000' });
  ({ config, pool } = store);
  cleanups.push(store.drop);
});

after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
});

test("each client's subscription gets its own submissions' events only; an all-clients one gets every event and batch.completed", async (t) => {
  const topology = await testTopology(t, config);
  const receivers: Record<'portal' | 'agency' | 'operations', WebhookReceiver> = { portal: await startReceiver(), agency: await startReceiver(), operations: await startReceiver() };
  for (const r of Object.values(receivers)) t.after(() => r.close());
  const submissionEvents = ['submission.received', 'submission.accepted', 'submission.rejected'] as const;
  const subs = {
    portal: await addSubscription(pool, { client: 'portal', url: receivers.portal.url, eventTypes: submissionEvents }),
    agency: await addSubscription(pool, { client: 'agency', url: receivers.agency.url, eventTypes: submissionEvents }),
    operations: await addSubscription(pool, { client: 'operations', allClients: true, url: receivers.operations.url, eventTypes: [...submissionEvents, 'batch.completed'] }),
  };
  for (const [name, sub] of Object.entries(subs)) receivers[name as keyof typeof receivers].secret = sub.secret;

  const notifier = startNotifier(config, { kafka: createKafka(config, createLogger({ level: 'warn' })), serde: createSerde(createRegistry(config)), topology, logger: createLogger({ level: 'error' }) });
  t.after(() => notifier.stop());
  await notifier.started;

  const producer = await stateRecordProducer(config, topology);
  t.after(() => producer.close());
  const run = `clients-${Date.now()}`;
  const expected: Record<keyof typeof receivers, string[]> = { portal: [], agency: [], operations: [] };
  const hashes: string[] = [];
  let n = 0;
  const submit = async (client: 'portal' | 'agency' | null, options: { decisionFirst?: boolean } = {}) => {
    const hash = producer.hashOf(run, n);
    const decision: DecisionTopic = n++ % 2 === 0 ? 'accepted' : 'rejected';
    hashes.push(hash);
    const ids = [eventId('submission.received', hash), eventId(`submission.${decision}`, hash)];
    if (client) expected[client].push(...ids);
    expected.operations.push(...ids);
    if (options.decisionFirst) {
      // The notifier stores the decision before it has read the received record, so it cannot know its client yet.
      await producer.decided(decision, hash);
      await waitFor('the decision stored before its received record', async () => (await pool.query('SELECT 1 FROM events WHERE id = $1', [ids[1]])).rowCount === 1, 30_000, 100);
      await producer.received(hash, client);
    } else {
      await producer.received(hash, client);
      await producer.decided(decision, hash);
    }
  };
  for (let i = 0; i < 4; i++) {
    await submit('portal');
    await submit('agency');
  }
  await submit('agency', { decisionFirst: true });
  // An inter-agency producer's submission names no client: only the operator hears of it.
  await submit(null);
  const batchId = `batch-${run}`;
  await producer.manifest(batchId, hashes);
  expected.operations.push(eventId('batch.completed', batchId));

  await waitFor('the operator has every event', () => receivers.operations.distinct().length >= expected.operations.length, 60_000, 100);
  await waitFor('every queue drained', async () => (await listSubscriptions(pool)).every((s) => s.pending === 0 && s.delivered > 0), 60_000, 100);

  for (const [name, receiver] of Object.entries(receivers)) {
    const want = expected[name as keyof typeof receivers];
    assert.deepEqual(receiver.distinct().map((r) => r.id).sort(), [...want].sort(), `${name}: its own submissions' events, nothing else`);
    assert.ok(receiver.received.every((r) => r.verified), `${name}: every request verifies with its subscription's secret`);
    const position = new Map(receiver.distinct().map((r, i) => [r.id, i]));
    // `want` holds each submission's received and decision ids as a pair.
    for (let i = 0; i + 1 < want.length; i += 2) assert.ok(position.get(want[i]!)! < position.get(want[i + 1]!)!, `${name}: a submission's received event before its decision`);
  }
  const lists = await Promise.all(['portal', 'agency'].map((c) => listSubscriptions(pool, c)));
  assert.deepEqual(lists.map((l) => l.map((s) => s.id)), [[subs.portal.id], [subs.agency.id]], 'list per client');
  // Deliveries and replays per client: only that client's subscriptions.
  const portalDeliveries = await listDeliveries(pool, { client: 'portal', limit: 1000 });
  assert.deepEqual([...new Set(portalDeliveries.map((d) => d.subscriptionId))], [subs.portal.id]);
  assert.equal(portalDeliveries.length, expected.portal.length);
  assert.equal(await replayDeliveries(pool, { client: 'agency', status: 'delivered' }), expected.agency.length);
  await waitFor('the agency replay delivered', async () => (await listSubscriptions(pool, 'agency'))[0]!.pending === 0, 30_000, 100);
  assert.equal((await listSubscriptions(pool, 'portal'))[0]!.delivered, expected.portal.length, 'the other client is not replayed');
  await assert.rejects(addSubscription(pool, { client: 'portal', url: receivers.portal.url, eventTypes: ['batch.completed'] }), /only a subscription for all clients/);
});
