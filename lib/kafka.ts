/**
 * The Kafka client of every permitflow process, configured once from `Config`.
 * kafkajs is behind this module and the processor runtime, so a KafkaJS-compatible client
 * could replace it without touching processors or connectors.
 */
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

export function createKafka(config: Config, logger: Logger, clientId = config.kafka.clientId): Kafka {
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
      // Expected between back-to-back transactions and retried by kafkajs: not an error for us.
      const text = error instanceof Error ? error.message : typeof error === 'string' ? error : undefined;
      // Answers kafkajs retries itself: a transaction busy for a moment, metadata of a topic
      // being created or deleted. The caller sees an error if the retries run out.
      const expected = text !== undefined && (text.includes('another concurrent operation on the same transaction') || (namespace === 'Connection' && text.includes('does not host this topic-partition')));
      const failure = {
        ...(text !== undefined && { error: error instanceof Error ? loggableError(error) : scrubText(text) }),
        ...(typeof stack === 'string' && { stack: scrubText(stack) }),
      };
      logger[expected ? 'debug' : (LEVELS[level] ?? 'info')]({ kafkajs: namespace, ...extra, ...failure }, message);
    },
  };
  if (config.kafka.sasl) {
    kafkaConfig.sasl = {
      mechanism: config.kafka.sasl.mechanism,
      username: config.kafka.sasl.username,
      password: config.kafka.sasl.password,
    } as SASLOptions;
  }
  return new Kafka(kafkaConfig);
}

/** A record's headers as strings (kafkajs hands them over as buffers). */
export function stringHeaders(headers: IHeaders | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(headers ?? {}).map(([k, v]) => [k, String(v)]));
}
