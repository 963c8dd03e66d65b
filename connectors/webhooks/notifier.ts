/**
 * `permitflow run notifier`: the `notifier` consumer group reads `received`, `accepted`,
 * `rejected` and the batch manifests (read_committed), turns each record into its event
 * (events.ts) and queues it for every subscription of its type in PostgreSQL (store.ts), one
 * statement per fetched batch, and only then commits the batch's offsets: at least once
 * across crashes, with duplicates absorbed by the outbox's unique keys. The consumer never
 * waits on a subscriber: sending is the dispatcher's, per subscriber (dispatcher.ts).
 *
 * Like the read model it is a sink, not a consume-transform-produce processor (lib/sink-runner.ts:
 * deployment check, retries with backoff, crash restarts, fatal stops); a record that cannot be
 * decoded is logged and skipped (the read model dead-letters it).
 */
import type { EachBatchPayload, Kafka } from 'kafkajs';
import { Counter } from 'prom-client';
import type { Config } from '../../lib/config.ts';
import { classify } from '../../lib/errors.ts';
import type { Logger } from '../../lib/logger.ts';
import { runSink, type RunningSink } from '../../lib/sink-runner.ts';
import { createStageConsumer } from '../../lib/stage-consumer.ts';
import type { Serde } from '../../schemas/serde.ts';
import { PROCESSORS, type TopicSpec, type Topology } from '../../topology/topics.ts';
import { startDispatcher, type Dispatcher } from './dispatcher.ts';
import { EVENT_TYPE_OF_TOPIC, eventOf, type NotifiedTopic, type WebhookEvent } from './events.ts';
import { createWebhookSender } from './sender.ts';
import { createWebhookPool, enqueue, migrateWebhooks } from './store.ts';

export interface NotifierDeps {
  kafka: Kafka;
  serde: Serde;
  topology: Topology;
  logger: Logger;
}

export type RunningNotifier = RunningSink;

const queuedTotal = new Counter({ name: 'permitflow_webhook_events_queued_total', help: 'Webhook deliveries queued, by event type', labelNames: ['type'] });

const QUEUING_PARTITIONS_AT_ONCE = 8;

const isNotified = (id: string): id is NotifiedTopic => id in EVENT_TYPE_OF_TOPIC;

export function startNotifier(config: Config, deps: NotifierDeps): RunningNotifier {
  const { kafka, serde, topology } = deps;
  const group = topology.group('notifier');
  const logger = deps.logger.child({ processor: 'notifier', groupId: group });
  // Queuing is one short statement per fetched batch, so the consumer takes more partitions at
  // once than a processor would (a partition waiting its turn is latency for every subscriber).
  const partitionsAtOnce = Math.max(config.runtime.partitionsConcurrently, QUEUING_PARTITIONS_AT_ONCE);
  const pool = createWebhookPool(config, { applicationName: `permitflow-notifier-${config.workerId}`, max: partitionsAtOnce + 4 });
  const sender = createWebhookSender({ ...config.webhooks });
  const inputs: TopicSpec[] = PROCESSORS.notifier.inputs.map((id) => topology.topics[id]);
  const byName = new Map(inputs.map((t) => [t.name, t]));
  const consumer = createStageConsumer(kafka, group, config.runtime);
  let dispatcher: Dispatcher | undefined;

  async function eventsOf(topic: TopicSpec, payload: EachBatchPayload): Promise<WebhookEvent[]> {
    const events: WebhookEvent[] = [];
    if (!isNotified(topic.id)) return events;
    for (const message of payload.batch.messages) {
      if (!message.value) continue;
      try {
        events.push(eventOf(topic.id, await serde.decode(topic, message.value)));
      } catch (err) {
        if (classify(err) !== 'dead-letter') throw err;
        logger.warn({ topic: topic.name, partition: payload.batch.partition, offset: message.offset, err }, 'undecodable record: no event');
      }
    }
    return events;
  }

  async function apply(payload: EachBatchPayload): Promise<void> {
    const topic = byName.get(payload.batch.topic)!;
    const events = await eventsOf(topic, payload);
    if (events.length === 0) return;
    // One transaction: the batch's events and deliveries, or nothing. Submission events queue one
    // batch per partition number at a time (a decision learns its client from the received event).
    const queued = await enqueue(pool, events, topic.id === 'batches' ? undefined : payload.batch.partition);
    const total = [...queued.values()].reduce((a, b) => a + b, 0);
    if (total > 0) {
      queuedTotal.inc({ type: EVENT_TYPE_OF_TOPIC[topic.id as NotifiedTopic] }, total);
      dispatcher?.wake();
    }
  }

  return runSink({
    processor: 'notifier',
    kafka,
    serde,
    topology,
    logger,
    consumer,
    inputs,
    partitionsConcurrently: partitionsAtOnce,
    sessionTimeoutMs: config.runtime.sessionTimeoutMs,
    // Offsets only after the outbox holds the batch's events.
    autoCommit: true,
    async prepare() {
      const applied = await migrateWebhooks(pool, config.webhooks.schema);
      if (applied.length > 0) logger.info({ schema: config.webhooks.schema, applied }, 'webhook migrations applied');
      dispatcher = startDispatcher({ ...config.webhooks, pool, sender, logger, owner: config.workerId });
    },
    apply,
    async close() {
      await dispatcher?.stop();
      await sender.close().catch(() => undefined);
      await pool.end().catch(() => undefined);
    },
  });
}
