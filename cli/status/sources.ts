/**
 * The real sources of `permitflow status`: a Kafka admin (reconnecting after a failed connect),
 * the dead-letter counter over the read model and the DLQ topic, and the metrics scraper.
 * Logging is silent: every failure surfaces in the snapshot instead of on stdout, which is the
 * screen (or the JSON) of this command.
 */
import { createReadModelPool } from '../../connectors/read-model/index.ts';
import type { Config } from '../../lib/config.ts';
import { createKafka } from '../../lib/kafka.ts';
import { createLogger } from '../../lib/logger.ts';
import { createRegistry, createSerde } from '../../schemas/serde.ts';
import type { Topology } from '../../topology/topics.ts';
import { createDeadLetterCounter, kafkaRangeReader, readModelDeadLetters } from './dead-letters.ts';
import { scrapeInFlight } from './metrics.ts';
import type { StatusAdmin, StatusSources } from './snapshot.ts';

export interface OpenedSources {
  sources: StatusSources;
  close(): Promise<void>;
}

export interface SourceOptions {
  metricsUrls: readonly string[];
  /** Budget of one metrics scrape. */
  scrapeTimeoutMs: number;
  /** Budget of one read of the DLQ past the read model. */
  dlqReadTimeoutMs: number;
}

/** The default scrape target: this machine's `permitflow run` endpoint (METRICS_PORT; 0 is none). */
export function defaultMetricsUrls(config: Config): string[] {
  if (config.metrics.port === 0) return [];
  const host = config.metrics.host === '0.0.0.0' || config.metrics.host === '::' ? '127.0.0.1' : config.metrics.host;
  return [`http://${host.includes(':') ? `[${host}]` : host}:${config.metrics.port}/metrics`];
}

export function openStatusSources(config: Config, topology: Topology, options: SourceOptions): OpenedSources {
  const kafka = createKafka(config, createLogger({ level: 'silent' }), `${config.kafka.clientId}-status`);
  // Fewer retries than the processors' client: a refresh should show a failure, not wait it out.
  const admin = kafka.admin({ retry: { retries: 2, initialRetryTime: 100, maxRetryTime: 1_000 } });
  let connecting: Promise<void> | undefined;
  const connected = (): Promise<void> =>
    (connecting ??= admin.connect().catch((err: unknown) => {
      connecting = undefined;
      throw err;
    }));
  const reconnecting: StatusAdmin = {
    fetchTopicOffsets: async (topic) => (await connected(), admin.fetchTopicOffsets(topic)),
    fetchOffsets: async (o) => (await connected(), admin.fetchOffsets(o)),
    describeCluster: async () => (await connected(), admin.describeCluster()),
    describeGroups: async (groups) => (await connected(), admin.describeGroups(groups)),
  };

  const pool = createReadModelPool(config, { applicationName: 'permitflow-status', max: 1 });
  const serde = createSerde(createRegistry(config));
  // Closing stops a DLQ read under way, so the process can exit at once.
  const closing = new AbortController();
  const deadLetters = createDeadLetterCounter({
    watermarks: () => reconnecting.fetchTopicOffsets(topology.topics.dlq.name),
    readModel: readModelDeadLetters(pool, { sinkGroup: topology.group('read-model'), dlqTopic: topology.topics.dlq.name }),
    readRange: async (ranges) => (await connected(), kafkaRangeReader(kafka, admin, serde, topology.topics.dlq, { timeoutMs: options.dlqReadTimeoutMs, signal: closing.signal })(ranges)),
  });

  return {
    sources: {
      admin: reconnecting,
      brokers: config.kafka.brokers,
      deadLetters,
      inFlight: () => scrapeInFlight(options.metricsUrls, { timeoutMs: options.scrapeTimeoutMs }),
    },
    async close() {
      closing.abort();
      await Promise.all([admin.disconnect().catch(() => undefined), pool.end().catch(() => undefined)]);
    },
  };
}
