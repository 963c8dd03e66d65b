/**
 * The Kafka client of every permitflow process, configured once from `Config`.
 * kafkajs serves admin, producers and readers everywhere; the processors' runtime runs on the
 * client KAFKA_CLIENT names (see `runtimeClient`): kafkajs, or @confluentinc/kafka-javascript
 * (librdkafka, KIP-447), reached through `confluentKafka` with the same settings.
 */
import { createRequire } from 'node:module';
import type { KafkaJS as ConfluentKafkaJS } from '@confluentinc/kafka-javascript';
import { Kafka, logLevel, type IHeaders, type KafkaConfig, type SASLOptions } from 'kafkajs';
import type { Config } from './config.ts';
import { loggableError, scrubText } from './errors.ts';
import type { Logger } from './logger.ts';

const LEVELS: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
};

/**
 * Broker answers kafkajs retries itself while a group, a transaction or a partition changes
 * hands: at start-up, in rebalances, after a leader moves (kafkajs' own texts, checked against
 * its error table in test/unit/kafka-logging.test.ts). kafkajs logs each at error level before
 * retrying; if its retries run out, the caller gets the error and that is logged as one.
 */
export const RETRIED_BROKER_ANSWERS = [
  "The coordinator is loading and hence can't process requests for this group",
  'The group coordinator is not available',
  'This is not the correct coordinator for this group',
  'There is no leader for this topic-partition as we are in the middle of a leadership election',
  'This server is not the leader for that topic-partition',
  'This is not the correct controller for this cluster',
  'The producer attempted to update a transaction while another concurrent operation on the same transaction was ongoing',
] as const;

/**
 * The level of a kafkajs line: its retried broker answers at debug, so a healthy start or
 * rebalance prints no error; a failed connection (retried too, but the broker may really be
 * gone) at warn, folded by `foldRepeats`; everything else at kafkajs' own level.
 */
export function kafkajsLevel(namespace: string, level: 'error' | 'warn' | 'info' | 'debug', message: string, error: string | undefined): 'error' | 'warn' | 'info' | 'debug' {
  if (level !== 'error' && level !== 'warn') return level;
  if (error !== undefined && RETRIED_BROKER_ANSWERS.some((answer) => error.includes(answer))) return 'debug';
  // Metadata of a topic being created or deleted, answered while kafkajs refreshes it.
  if (namespace === 'Connection' && error === 'This server does not host this topic-partition') return 'debug';
  if (isConnectionFailure(namespace, message)) return 'warn';
  return level;
}

const isConnectionFailure = (namespace: string, message: string): boolean => namespace === 'Connection' && (message.startsWith('Connection error:') || message === 'Connection timeout');

/**
 * Folds repeats of a line: the first of a kind is printed, the repeats within `windowMs` are
 * only counted, and the next one printed after the window carries that count. kafkajs retries
 * a lost broker every few hundred milliseconds; an operator needs one line a minute, not hundreds.
 */
export function foldRepeats(windowMs = 60_000, now: () => number = Date.now): (kind: string) => { print: boolean; repeats: number } {
  const seen = new Map<string, { since: number; repeats: number }>();
  return (kind) => {
    const at = now();
    const last = seen.get(kind);
    if (last && at - last.since < windowMs) {
      last.repeats += 1;
      return { print: false, repeats: last.repeats };
    }
    seen.set(kind, { since: at, repeats: 0 });
    return { print: true, repeats: last?.repeats ?? 0 };
  };
}

export function createKafka(config: Config, logger: Logger, clientId = config.kafka.clientId): Kafka {
  const connectionFailures = foldRepeats();
  const kafkaConfig: KafkaConfig = {
    clientId,
    brokers: config.kafka.brokers,
    ssl: config.kafka.ssl,
    connectionTimeout: 5_000,
    requestTimeout: 30_000,
    // A short first retry: right after a commit the broker briefly answers CONCURRENT_TRANSACTIONS,
    // and kafkajs' 300 ms default would cap back-to-back transactions at about three a second
    // (the Java client waits 20 ms there).
    retry: { initialRetryTime: 20, retries: 12, maxRetryTime: 10_000 },
    logLevel: logLevel.WARN,
    // kafkajs logs through pino, so its lines are JSON and redacted like ours. It also logs the
    // errors our callbacks throw (`error`, `stack`): they get the treatment of `err`.
    logCreator: () => ({ namespace, level, log }) => {
      const { message, error, stack, ...extra } = log as { message: string; error?: unknown; stack?: unknown };
      // Our idempotent producers bound their retries on purpose: a send that keeps failing
      // fails its transaction, and the runtime rebuilds the producer and retries the batch.
      if (message.startsWith('Limiting retries for the idempotent producer')) return;
      const text = error instanceof Error ? error.message : typeof error === 'string' ? error : undefined;
      const failure = {
        ...(text !== undefined && { error: error instanceof Error ? loggableError(error) : scrubText(text) }),
        ...(typeof stack === 'string' && { stack: scrubText(stack) }),
      };
      const fields = { kafkajs: namespace, ...extra, ...failure };
      if (isConnectionFailure(namespace, message)) {
        const { print, repeats } = connectionFailures(message);
        if (print) logger.warn({ ...fields, ...(repeats > 0 && { repeatsSinceLastLine: repeats }) }, message);
        else logger.debug(fields, message);
        return;
      }
      logger[kafkajsLevel(namespace, LEVELS[level] ?? 'info', message, text)](fields, message);
    },
  };
  if (config.kafka.sasl) {
    kafkaConfig.sasl = {
      mechanism: config.kafka.sasl.mechanism,
      username: config.kafka.sasl.username,
      password: config.kafka.sasl.password,
    } as SASLOptions;
  }
  const kafka = new Kafka(kafkaConfig);
  settings.set(kafka, { config, logger, clientId });
  return kafka;
}

/**
 * The settings each Kafka handle was made with: `runProcessor` takes a handle, and the runtime
 * client it runs on (and that client's connection) follows from it, so no caller threads Config.
 */
const settings = new WeakMap<Kafka, { config: Config; logger: Logger; clientId: string; confluent?: ConfluentKafkaJS.Kafka }>();

export type RuntimeClient = Config['kafka']['client'];

/** The client the processors' runtime uses with this handle (KAFKA_CLIENT). */
export function runtimeClient(kafka: Kafka): RuntimeClient {
  return settings.get(kafka)?.config.kafka.client ?? 'kafkajs';
}

/** Loaded on first use: a process on kafkajs never loads the native librdkafka binding. */
const requireConfluent = (): typeof import('@confluentinc/kafka-javascript') => createRequire(import.meta.url)('@confluentinc/kafka-javascript') as typeof import('@confluentinc/kafka-javascript');

/** The @confluentinc/kafka-javascript client with the same brokers, TLS, SASL and client id as `kafka`. */
export function confluentKafka(kafka: Kafka): ConfluentKafkaJS.Kafka {
  const known = settings.get(kafka);
  if (!known) throw new Error('confluentKafka: a Kafka handle made by createKafka is needed');
  if (known.confluent) return known.confluent;
  const { config, logger, clientId } = known;
  const { KafkaJS } = requireConfluent();
  const sasl = config.kafka.sasl;
  known.confluent = new KafkaJS.Kafka({
    kafkaJS: {
      clientId,
      brokers: config.kafka.brokers,
      ssl: config.kafka.ssl,
      connectionTimeout: 5_000,
      requestTimeout: 30_000,
      logger: confluentLogger(logger.child({ kafkaClient: 'confluent' })),
      logLevel: KafkaJS.logLevel.WARN,
      ...(sasl && { sasl: { mechanism: sasl.mechanism, username: sasl.username, password: sasl.password } }),
    },
  });
  return known.confluent;
}

/** librdkafka's lines through our logger (JSON, redacted); its texts are scrubbed like kafkajs'. */
function confluentLogger(logger: Logger): ConfluentKafkaJS.Logger {
  const connectionFailures = foldRepeats();
  const line = (level: 'error' | 'warn' | 'info' | 'debug') => (message: string, extra?: object) => {
    const text = scrubText(message);
    // A broker that is away is retried by librdkafka: one line a minute, as for kafkajs.
    if ((level === 'error' || level === 'warn') && /Connection refused|transport|timed out/i.test(text)) {
      const { print, repeats } = connectionFailures(text.slice(0, 80));
      if (!print) return logger.debug({ ...extra }, text);
      return logger.warn({ ...extra, ...(repeats > 0 && { repeatsSinceLastLine: repeats }) }, text);
    }
    logger[level]({ ...extra }, text);
  };
  const self: ConfluentKafkaJS.Logger = {
    error: line('error'),
    warn: line('warn'),
    info: line('info'),
    debug: line('debug'),
    namespace: () => self,
    setLogLevel: () => undefined,
  };
  return self;
}

/** A record's headers as strings (kafkajs hands them over as buffers). */
export function stringHeaders(headers: IHeaders | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(headers ?? {}).map(([k, v]) => [k, String(v)]));
}
