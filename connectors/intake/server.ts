/**
 * The running intake: real clients (Kafka producer and admin, registry, object store, Redis,
 * the API key file) wired into `buildApp`, listening on the configured address, with a graceful
 * `close()`: refuse new connections, finish in-flight requests, flush the producer, then close
 * every client.
 */
import type { FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import type { Config } from '../../lib/config.ts';
import { createKafka } from '../../lib/kafka.ts';
import { createLogger, type Logger } from '../../lib/logger.ts';
import { createRegistry, createSerde } from '../../schemas/serde.ts';
import { buildTopology, PROCESSORS } from '../../topology/topics.ts';
import { createObjectStore } from '../object-store.ts';
import { createRawProducer } from '../raw-topic.ts';
import { watchApiKeys } from './api-keys.ts';
import { buildApp } from './app.ts';
import { createLagMonitor } from './backpressure.ts';
import { coalescingSink } from './envelope-sink.ts';
import { redisIdempotencyStore } from './idempotency.ts';
import { intakeMetrics } from './metrics.ts';
import { redisRateLimiter } from './rate-limit.ts';
import { createReadModelPool, createReadModelStatusSource } from '../read-model/index.ts';
import { firstKnownStatus, redisReceipts } from './status.ts';
import { withTimeout } from '../../lib/timeout.ts';

export interface RunningIntake {
  app: FastifyInstance;
  /** Base URL, e.g. http://127.0.0.1:8088 */
  url: string;
  close(): Promise<void>;
}

export interface StartOptions {
  logger?: Logger;
  /** Overrides the configured port (0: any free port, for tests). */
  port?: number;
  /** Lets a caller add routes (the benchmark's bare handler) before the server starts. */
  extend?: (app: FastifyInstance) => void;
}

/** A status answer from the receipt beats waiting on a read model that does not answer. */
const STATUS_LOOKUP_TIMEOUT_MS = 2_000;

export async function startIntake(config: Config, options: StartOptions = {}): Promise<RunningIntake> {
  const logger = options.logger ?? createLogger({ level: config.logLevel, name: 'intake' });
  const settings = config.intake;
  const topology = buildTopology(config.topology);
  const kafka = createKafka(config, logger, `${config.kafka.clientId}-intake`);
  const serde = createSerde(createRegistry(config));
  const objectStore = createObjectStore(config);
  const prefix = `permitflow:${config.topology.namespace}:intake`;
  const closers: (() => Promise<unknown> | void)[] = [];
  const closeAll = async () => {
    for (const close of closers.reverse()) await Promise.resolve(close()).catch((err: unknown) => logger.warn({ err }, 'error while closing'));
  };

  try {
    closers.push(() => objectStore.close());
    // No offline queue: with Redis down, calls fail at once (idempotent requests get 503, rate limits fall back to memory).
    // Auto-pipelining writes the commands of concurrent requests together: one socket write per tick, not per command.
    const redis = new Redis(config.redis.url, { lazyConnect: true, maxRetriesPerRequest: 1, enableOfflineQueue: false, enableAutoPipelining: true, connectionName: 'permitflow-intake' });
    redis.on('error', (err: Error) => logger.debug({ err }, 'redis connection error'));
    await redis.connect();
    closers.push(() => redis.quit());

    const producer = await createRawProducer(kafka, serde, topology.topics.raw, topology.topics.extract);
    const sink = coalescingSink(producer);
    closers.push(() => sink.close());
    // Look the schema id up now: an unapplied topology is a start-up error, not a failure of the first request.
    await serde.encode(topology.topics.raw, {
      submissionHash: '0'.repeat(64), source: 'http', sourceClient: null, sourceReference: null, receivedAt: 0,
      payload: { contentType: 'application/json', size: 2, sha256: '0'.repeat(64), inline: Buffer.from('{}'), objectKey: null }, attachments: [], traceparent: null,
    });

    const admin = kafka.admin();
    await admin.connect();
    closers.push(() => admin.disconnect());
    const metrics = intakeMetrics();
    const monitor = createLagMonitor({
      admin,
      targets: settings.lag.processors.map((p) => ({ group: topology.group(p), topics: PROCESSORS[p].inputs.map((id) => topology.topics[id].name) })),
      threshold: settings.lag.threshold,
      pollMs: settings.lag.pollMs,
      retryAfterMaxS: settings.retryAfterMaxS,
      logger,
      onPoll: (_lags, states) => {
        for (const g of states) metrics.lag.set({ group: g.group }, g.lag);
        metrics.shedding.set(monitor.pressure().shed ? 1 : 0);
      },
    });
    await monitor.poll();
    monitor.start();
    closers.push(() => monitor.stop());

    const apiKeys = watchApiKeys(settings.apiKeysFile, { onError: (err) => logger.error({ err }, 'API key file unreadable; keeping the previous keys') });
    closers.push(() => apiKeys.close());
    if (apiKeys.count() === 0) logger.warn({ file: settings.apiKeysFile }, 'no API keys: every submission gets 401 until one is created with `permitflow intake keys create`');

    // Status look-ups only: a small pool, connected on first use.
    const readModel = createReadModelPool(config, { applicationName: 'permitflow-intake', max: 4 });
    closers.push(() => readModel.end());
    const timeline = createReadModelStatusSource(readModel);
    const readModelStatus = { get: (id: string) => withTimeout(timeline.get(id), STATUS_LOOKUP_TIMEOUT_MS, 'read-model status look-up') };
    const receipts = redisReceipts(redis, { prefix: `${prefix}:receipt`, ttlMs: settings.statusTtlMs });
    const kafkaFreshMs = Math.max(3 * settings.lag.pollMs, 10_000);
    const app = await buildApp({
      settings,
      logger,
      apiKeys,
      rateLimiter: redisRateLimiter(redis, { prefix: `${prefix}:rate` }),
      backpressure: monitor,
      idempotency: redisIdempotencyStore(redis, { prefix: `${prefix}:idem`, ttlMs: settings.idempotencyTtlMs, inFlightTtlMs: settings.requestTimeoutMs + settings.produceTimeoutMs, maxKeysPerClient: settings.idempotencyMaxKeys }),
      statusSource: firstKnownStatus([readModelStatus, receipts], (err) => logger.warn({ err }, 'read model unavailable for a status look-up: answering from the receipt')),
      receipts,
      objectStore,
      sink,
      readiness: {
        kafka: () => {
          const last = monitor.lastSuccessAt();
          const fresh = last !== undefined && Date.now() - last <= kafkaFreshMs;
          return fresh ? Promise.resolve() : Promise.reject(new Error(`no successful Kafka read in ${kafkaFreshMs} ms`));
        },
        objectStore: () => objectStore.ping(),
        redis: async () => {
          await redis.ping();
        },
      },
    });
    options.extend?.(app);
    // Fastify's close runs before the clients' closers: in-flight requests still need them.
    closers.push(async () => {
      const timer = setTimeout(() => {
        logger.warn({ timeoutMs: settings.shutdownTimeoutMs }, 'in-flight requests outlived the shutdown timeout; closing their connections');
        app.server.closeAllConnections();
      }, settings.shutdownTimeoutMs);
      try {
        await app.close();
      } finally {
        clearTimeout(timer);
      }
    });
    const url = await app.listen({ host: settings.host, port: options.port ?? settings.port });
    logger.info({ url, rawTopic: topology.topics.raw.name }, 'intake listening');

    let closing: Promise<void> | undefined;
    return {
      app,
      url,
      close: () => (closing ??= closeAll()),
    };
  } catch (err) {
    await closeAll();
    throw err;
  }
}
