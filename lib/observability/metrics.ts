/**
 * What every permitflow process exposes to Prometheus: the process metrics of prom-client
 * (event-loop lag, heap, RSS, GC), the lag of the consumer groups the process runs, and the
 * `/metrics` endpoint that serves them with everything else on the default registry.
 *
 * Lag is read from Kafka when Prometheus scrapes (end offsets minus committed offsets, the
 * same figure the intake's backpressure uses), so an idle process costs nothing between scrapes.
 */
import Fastify from 'fastify';
import type { Admin } from 'kafkajs';
import { collectDefaultMetrics, Gauge, register } from 'prom-client';
import { fetchGroupLag } from '../lag.ts';
import type { Logger } from '../logger.ts';
import { withTimeout } from '../timeout.ts';

/** Registers prom-client's process metrics once per process. */
export function registerProcessMetrics(): void {
  if (!register.getSingleMetric('process_cpu_user_seconds_total')) collectDefaultMetrics({ register, eventLoopMonitoringPrecision: 20 });
}

export interface LagSource {
  group: string;
  topics: readonly string[];
}

const lagSources = new Map<string, { admin: Admin; topics: readonly string[] }>();
/** Bounds a scrape when Kafka is slow: a scrape should answer, even without lag. */
const LAG_READ_TIMEOUT_MS = 3_000;

// Registered on the default registry; Prometheus reads it through collect().
new Gauge({
  name: 'permitflow_consumer_group_lag',
  help: 'Records a consumer group has not yet committed past, per input topic and partition (read from Kafka at scrape time)',
  labelNames: ['group', 'topic', 'partition'],
  async collect() {
    this.reset();
    await Promise.all(
      [...lagSources].map(async ([group, { admin, topics }]) => {
        // A group whose lag cannot be read is left out of this scrape, never shown stale.
        const lag = await withTimeout(fetchGroupLag(admin, group, topics), LAG_READ_TIMEOUT_MS).catch(() => undefined);
        for (const p of lag?.partitions ?? []) this.set({ group, topic: p.topic, partition: String(p.partition) }, p.lag);
      }),
    );
  },
});

/** Reports the lag of `group` on its input topics at every scrape, until the returned function is called. */
export function watchConsumerLag(admin: Admin, source: LagSource): () => void {
  lagSources.set(source.group, { admin, topics: source.topics });
  return () => {
    lagSources.delete(source.group);
  };
}

export interface MetricsServer {
  url: string;
  /**
   * What GET /readyz answers: 200 once the process's processors have joined their groups, 503
   * before that and again once it is stopping, so an orchestrator neither counts a starting
   * instance as capacity nor waits on a leaving one.
   */
  setReady(ready: boolean): void;
  close(): Promise<void>;
}

/**
 * Serves GET /metrics (Prometheus text format), /healthz (the process answers: liveness) and
 * /readyz (see {@link MetricsServer.setReady}) on its own port; port 0 in options picks a free one.
 */
export async function serveMetrics(options: { host: string; port: number }, logger: Logger): Promise<MetricsServer> {
  registerProcessMetrics();
  const app = Fastify({ logger: false });
  let ready = false;
  app.get('/metrics', async (_request, reply) => {
    const body = await register.metrics();
    return reply.type(register.contentType).send(body);
  });
  app.get('/healthz', () => ({ status: 'ok' }));
  app.get('/readyz', (_request, reply) => (ready ? reply.send({ status: 'ready' }) : reply.code(503).send({ status: 'not ready' })));
  const address = await app.listen({ host: options.host, port: options.port });
  logger.info({ url: `${address}/metrics` }, 'metrics endpoint listening');
  return {
    url: `${address}/metrics`,
    setReady: (value) => {
      ready = value;
    },
    close: () => app.close(),
  };
}
