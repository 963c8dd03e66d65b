/**
 * restartAfterCrash: a consumer that kafkajs will not restart (a broker that is coming back
 * answers KafkaJSGroupCoordinatorNotFound, which kafkajs deems non-retriable) is started again
 * by the stage, with backoff until a start succeeds; a programmer error stops the stage; a
 * stopping stage restarts nothing. (The chaos suite shows the same against a real broker.)
 */
import assert from 'node:assert/strict';
import { EventEmitter, once } from 'node:events';
import { test } from 'node:test';
import type { Consumer } from 'kafkajs';
import { restartAfterCrash } from '../../lib/stage-consumer.ts';
import { createLogger } from '../../lib/logger.ts';

const CRASH = 'consumer.crash';

/** What kafkajs throws while a restarted broker's coordinator loads (kafkajs exports no constructor for it at run time). */
class KafkaJSGroupCoordinatorNotFound extends Error {
  override readonly name = 'KafkaJSGroupCoordinatorNotFound';
  readonly retriable = false;
}

function fakeConsumer(): { consumer: Consumer; crash: (error: Error, restart: boolean) => void; disconnects: () => number } {
  const emitter = new EventEmitter();
  let disconnects = 0;
  const consumer = {
    events: { CRASH },
    on: (event: string, listener: (e: unknown) => void) => emitter.on(event, listener),
    disconnect: () => {
      disconnects++;
      return Promise.resolve();
    },
  } as unknown as Consumer;
  return { consumer, crash: (error, restart) => emitter.emit(CRASH, { payload: { error, restart } }), disconnects: () => disconnects };
}

const logger = createLogger({ level: 'silent' });

test('a crash kafkajs does not restart starts the consumer again, retrying until a start succeeds', { timeout: 10_000 }, async () => {
  const { consumer, crash, disconnects } = fakeConsumer();
  const started = new EventEmitter();
  let starts = 0;
  const failures: unknown[] = [];
  restartAfterCrash(consumer, {
    logger,
    signal: new AbortController().signal,
    fail: (err) => failures.push(err),
    start: () => {
      starts++;
      started.emit('start', starts);
      // The broker is still loading on the first attempt.
      return starts === 1 ? Promise.reject(new KafkaJSGroupCoordinatorNotFound('Failed to find group coordinator')) : Promise.resolve();
    },
  });
  crash(new KafkaJSGroupCoordinatorNotFound('Failed to find group coordinator'), false);
  while (starts < 2) await once(started, 'start');
  assert.equal(starts, 2);
  assert.equal(disconnects(), 1, 'the failed start is cleaned up before the next');
  assert.deepEqual(failures, []);
});

test('a start that kafkajs reports as a crash (its run() resolves after the crash) is tried again', { timeout: 10_000 }, async () => {
  const { consumer, crash, disconnects } = fakeConsumer();
  const started = new EventEmitter();
  let starts = 0;
  restartAfterCrash(consumer, {
    logger,
    signal: new AbortController().signal,
    fail: () => undefined,
    start: () => {
      starts++;
      started.emit('start', starts);
      // kafkajs's Runner.start catches a failed join, emits the crash and returns: run() resolves.
      if (starts === 1) crash(new KafkaJSGroupCoordinatorNotFound('Failed to find group coordinator'), false);
      return Promise.resolve();
    },
  });
  crash(new KafkaJSGroupCoordinatorNotFound('Failed to find group coordinator'), false);
  while (starts < 2) await once(started, 'start');
  assert.equal(starts, 2);
  assert.equal(disconnects(), 1, 'the crashed start is cleaned up before the next');
});

test('a crash kafkajs restarts itself is left to kafkajs', async () => {
  const { consumer, crash } = fakeConsumer();
  let starts = 0;
  restartAfterCrash(consumer, { logger, signal: new AbortController().signal, fail: () => undefined, start: () => Promise.resolve(void starts++) });
  crash(new Error('connection closed'), true);
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(starts, 0);
});

test('a programmer error stops the stage; a stopping stage restarts nothing', async () => {
  const fatal = fakeConsumer();
  const failures: unknown[] = [];
  restartAfterCrash(fatal.consumer, { logger, signal: new AbortController().signal, fail: (err) => failures.push(err), start: () => Promise.resolve() });
  const bug = new TypeError('x is not a function');
  fatal.crash(bug, false);
  assert.deepEqual(failures, [bug]);

  const stopping = fakeConsumer();
  const controller = new AbortController();
  controller.abort();
  let starts = 0;
  restartAfterCrash(stopping.consumer, { logger, signal: controller.signal, fail: () => undefined, start: () => Promise.resolve(void starts++) });
  stopping.crash(new KafkaJSGroupCoordinatorNotFound('gone'), false);
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(starts, 0);
});
