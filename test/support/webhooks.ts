/**
 * Webhook receivers (stand-ins for integrators: local HTTP servers) and a producer of the state
 * records the notifier turns into events, for the webhook tests and bench/webhooks.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type pg from 'pg';
import { Webhook } from 'standardwebhooks';
import { createWebhookPool, migrateWebhooks } from '../../connectors/webhooks/store.ts';
import type { Config } from '../../lib/config.ts';
import { createKafka } from '../../lib/kafka.ts';
import { createLogger } from '../../lib/logger.ts';
import { createRegistry, createSerde } from '../../schemas/serde.ts';
import type { Topology } from '../../topology/topics.ts';
import { sampleRecords } from './samples.ts';
import { testConfig } from './stack.ts';

export interface ReceivedWebhook {
  id: string;
  type: string;
  submissionId: string | undefined;
  arrivedAt: number;
  /** The signature verified with the subscription's secret (the reference implementation). */
  verified: boolean;
}

export interface WebhookReceiver {
  url: string;
  port: number;
  received: ReceivedWebhook[];
  /** Each event id once, in first-arrival order. */
  distinct(): ReceivedWebhook[];
  /** The secret to verify with (set after `webhooks add`). */
  secret?: string;
  close(): Promise<void>;
}

/** A receiver on `port` (0: any) that verifies every request and answers `status` (204). */
export async function startReceiver(options: { port?: number; status?: number; delayMs?: number } = {}): Promise<WebhookReceiver> {
  const received: ReceivedWebhook[] = [];
  const receiver: WebhookReceiver = {
    url: '',
    port: 0,
    received,
    distinct: () => {
      const first = new Map<string, ReceivedWebhook>();
      for (const r of received) if (!first.has(r.id)) first.set(r.id, r);
      return [...first.values()];
    },
    close: async () => {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const arrivedAt = Date.now();
      const body = Buffer.concat(chunks).toString('utf8');
      let verified = false;
      let event: { type?: string; data?: { submissionId?: string } } = {};
      try {
        event = new Webhook(receiver.secret ?? 'whsec_').verify(body, req.headers as Record<string, string>) as typeof event;
        verified = true;
      } catch {
        event = JSON.parse(body) as typeof event;
      }
      received.push({ id: String(req.headers['webhook-id']), type: String(event.type), submissionId: event.data?.submissionId, arrivedAt, verified });
      const answer = () => res.writeHead(options.status ?? 204).end();
      if (options.delayMs) setTimeout(answer, options.delayMs);
      else answer();
    });
  });
  server.listen(options.port ?? 0, '127.0.0.1');
  await once(server, 'listening');
  receiver.port = (server.address() as AddressInfo).port;
  receiver.url = `http://127.0.0.1:${receiver.port}/permitflow/events`;
  return receiver;
}

export type DecisionTopic = 'accepted' | 'rejected';

/** Produces state records (received, accepted, rejected, manifests) as the stages would. */
export async function stateRecordProducer(config: Config, topology: Topology) {
  const kafka = createKafka(config, createLogger({ level: 'warn' }));
  const serde = createSerde(createRegistry(config));
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const samples = sampleRecords() as Record<string, Record<string, unknown>>;
  const header = (state: string, hash: string, batchId: string | null) => ({ ...(samples.SubmissionReceived!.header as object), state, submissionHash: hash, batchId, at: Date.now() });
  const send = async (topic: keyof Topology['topics'], key: string, value: unknown) => {
    const spec = topology.topics[topic];
    await producer.send({ topic: spec.name, acks: -1, messages: [{ key, value: await serde.encode(spec, value) }] });
    return Date.now();
  };
  return {
    /** A submission hash for test submission `n` of `run`. */
    hashOf: (run: string, n: number) => createHash('sha256').update(`${run}:${n}`).digest('hex'),
    /** A received record of `hash`, submitted by `client` (the intake's authenticated client; default the sample's, `portal`). */
    received: (hash: string, client?: string | null) =>
      send('received', hash, { ...samples.SubmissionReceived, header: header('received', hash, null), ...(client !== undefined && { sourceClient: client }) }),
    decided: (topic: DecisionTopic, hash: string) => send(topic, hash, { ...samples[topic === 'accepted' ? 'SubmissionAccepted' : 'SubmissionRejected'], header: header(topic, hash, 'batch-1') }),
    manifest: (batchId: string, members: string[]) => send('batches', batchId, { ...samples.BatchManifest, batchId, members, count: members.length }),
    close: () => producer.disconnect(),
  };
}

/**
 * A test's own webhooks schema, migrated, with a small pool on it; `drop` removes the schema and
 * ends the pool. `overrides` are more configuration for the test (the loopback allow-list, say).
 */
export async function webhooksTestStore(prefix: string, overrides: Record<string, string>): Promise<{ config: Config; pool: pg.Pool; drop: () => Promise<void> }> {
  const schema = `${prefix}_${Date.now().toString(36)}`;
  const config = await testConfig({ WEBHOOKS_SCHEMA: schema, ...overrides });
  const pool = createWebhookPool(config, { max: 2 });
  await migrateWebhooks(pool, schema);
  return {
    config,
    pool,
    drop: async () => {
      await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await pool.end();
    },
  };
}

