/**
 * kafkajs logs, at error level, broker answers it then retries itself (a fresh group's
 * coordinator not available yet, or loading; a partition changing leader). Through
 * lib/kafka.ts they are debug lines, so a healthy start prints no error; a failed connection is
 * a warning, once a minute with a count; anything else, retries run out included, keeps its
 * error level.
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { loadConfig } from '../../lib/config.ts';
import { createKafka, foldRepeats, RETRIED_BROKER_ANSWERS } from '../../lib/kafka.ts';
import { createLogger } from '../../lib/logger.ts';

function kafkaLogging() {
  const chunks: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  const kafka = createKafka(loadConfig({ PERMITFLOW_ENV_FILE: '/nonexistent/stack.env' }), createLogger({ level: 'debug', destination }));
  const levels = () => chunks.join('').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as { level: number; msg: string; kafkajs: string });
  return { logger: kafka.logger(), levels };
}

const DEBUG = 20;
const WARN = 40;
const ERROR = 50;

test("kafkajs' retried coordinator and leadership answers are logged at debug", () => {
  const { logger, levels } = kafkaLogging();
  const connection = logger.namespace('Connection');
  connection.error('Response GroupCoordinator(key: 10, version: 2)', { error: 'The group coordinator is not available', correlationId: 1, size: 30 });
  connection.error('Response FindCoordinator(key: 10, version: 2)', { error: "The coordinator is loading and hence can't process requests for this group", correlationId: 2, size: 30 });
  connection.error('Response JoinGroup(key: 11, version: 5)', { error: 'This is not the correct coordinator for this group', correlationId: 3, size: 30 });
  connection.error('Response Metadata(key: 3, version: 6)', { error: 'There is no leader for this topic-partition as we are in the middle of a leadership election', correlationId: 4, size: 30 });
  connection.error('Response AddOffsetsToTxn(key: 25, version: 1)', { error: 'The producer attempted to update a transaction while another concurrent operation on the same transaction was ongoing', correlationId: 5, size: 30 });
  assert.deepEqual(levels().map((l) => [l.kafkajs, l.level]), Array.from({ length: 5 }, () => ['Connection', DEBUG]));
});

test('a failed connection is a warning; a real broker error and retries run out stay errors', () => {
  const { logger, levels } = kafkaLogging();
  logger.namespace('Connection').error('Connection error: connect ECONNREFUSED 127.0.0.1:1', { broker: '127.0.0.1:1', clientId: 'permitflow' });
  logger.namespace('Connection').error('Response Produce(key: 0, version: 7)', { error: 'The request included a message larger than the max message size the server will accept', correlationId: 6, size: 30 });
  logger.namespace('Consumer').error('Crash: KafkaJSNumberOfRetriesExceeded: The group coordinator is not available', { groupId: 'g', retryCount: 12 });
  logger.namespace('Connection').error('Response SaslAuthenticate(key: 36, version: 1)', { error: 'Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512', correlationId: 7, size: 30 });
  assert.deepEqual(
    levels().map((l) => [l.msg, l.level]),
    [
      ['Connection error: connect ECONNREFUSED 127.0.0.1:1', WARN],
      ['Response Produce(key: 0, version: 7)', ERROR],
      ['Crash: KafkaJSNumberOfRetriesExceeded: The group coordinator is not available', ERROR],
      ['Response SaslAuthenticate(key: 36, version: 1)', ERROR],
    ],
  );
});

test("every answer logged at debug is one kafkajs' error table marks retriable, in its exact words", () => {
  // kafkajs has no typed export of its table; the test reads it so an upgrade that rewords an answer fails here.
  const { errorCodes } = createRequire(import.meta.url)('kafkajs/src/protocol/error.js') as { errorCodes: Array<{ type: string; message: string; retriable: boolean }> };
  for (const answer of RETRIED_BROKER_ANSWERS) {
    const entry = errorCodes.find((e) => e.message === answer);
    assert.ok(entry, `kafkajs has no error "${answer}"`);
    assert.equal(entry.retriable, true, `${entry.type} is not retried by kafkajs`);
  }
});

test('repeated connection failures print one warning, the repeats at debug', () => {
  const { logger, levels } = kafkaLogging();
  for (let i = 0; i < 3; i++) logger.namespace('Connection').error('Connection error: connect ECONNREFUSED 127.0.0.1:1', { broker: '127.0.0.1:1' });
  logger.namespace('Connection').error('Connection timeout', { broker: '127.0.0.1:2' });
  assert.deepEqual(
    levels().map((l) => [l.msg, l.level]),
    [
      ['Connection error: connect ECONNREFUSED 127.0.0.1:1', WARN],
      ['Connection error: connect ECONNREFUSED 127.0.0.1:1', DEBUG],
      ['Connection error: connect ECONNREFUSED 127.0.0.1:1', DEBUG],
      ['Connection timeout', WARN],
    ],
  );
});

test('after the window, the next line of a kind is printed with the count of those folded', () => {
  let now = 0;
  const fold = foldRepeats(60_000, () => now);
  assert.deepEqual(fold('a'), { print: true, repeats: 0 });
  now = 1_000;
  assert.deepEqual([fold('a'), fold('a'), fold('b')], [{ print: false, repeats: 1 }, { print: false, repeats: 2 }, { print: true, repeats: 0 }]);
  now = 61_000;
  assert.deepEqual(fold('a'), { print: true, repeats: 2 });
  assert.deepEqual(fold('a'), { print: false, repeats: 1 });
});
