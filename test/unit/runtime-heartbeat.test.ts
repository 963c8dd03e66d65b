/**
 * The runtime's heartbeat while a batch is in hand (processors/runtime/heartbeat.ts), on mocked
 * timers: it beats on its interval for as long as the work runs and stops when it settles; a
 * heartbeat that fails, or throws at once, never fails the work or the process. The real broker
 * case (no rebalance under a slow handler) is test/integration/runtime-heartbeat.test.ts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLogger } from '../../lib/logger.ts';
import { heartbeatIntervalMs } from '../../lib/stage-consumer.ts';
import { whileHeartbeating } from '../../processors/runtime/heartbeat.ts';

const logger = createLogger({ level: 'silent' });

/** Lets a beat's promise chain run out (setImmediate is not mocked: only setInterval is). */
const settleBeat = () => new Promise((resolve) => setImmediate(resolve));

/** Work that ends when `finish` is called: the test drives time, not the work. */
function pendingWork(): { work: () => Promise<string>; finish: () => void } {
  let finish!: () => void;
  const done = new Promise<string>((resolve) => (finish = () => resolve('done')));
  return { work: () => done, finish };
}

test('beats on its interval while the work runs, and not after it settled', async (t) => {
  t.mock.timers.enable({ apis: ['setInterval'] });
  let beats = 0;
  const { work, finish } = pendingWork();
  const running = whileHeartbeating(() => Promise.resolve(void beats++), 1_000, logger, work);
  for (let i = 0; i < 5; i++) {
    t.mock.timers.tick(1_000);
    await settleBeat();
  }
  assert.equal(beats, 5);
  finish();
  assert.equal(await running, 'done');
  t.mock.timers.tick(10_000);
  assert.equal(beats, 5, 'no heartbeat once the batch settled');
});

test('a heartbeat that fails or throws at once does not fail the work; a slow one is not piled up', async (t) => {
  t.mock.timers.enable({ apis: ['setInterval'] });
  let calls = 0;
  const { work, finish } = pendingWork();
  const running = whileHeartbeating(
    () => {
      calls += 1;
      if (calls === 1) throw new Error('not a function, say');
      if (calls === 2) return Promise.reject(Object.assign(new Error('rebalancing'), { type: 'REBALANCE_IN_PROGRESS' }));
      return new Promise<void>(() => undefined); // never answers
    },
    1_000,
    logger,
    work,
  );
  for (let i = 0; i < 6; i++) {
    t.mock.timers.tick(1_000);
    await settleBeat();
  }
  assert.equal(calls, 3, 'the third heartbeat never answered: no fourth was sent meanwhile');
  finish();
  assert.equal(await running, 'done');
});

test("the interval is the clients' heartbeat interval: a tenth of the session timeout, at least 500 ms", () => {
  assert.equal(heartbeatIntervalMs(30_000), 3_000);
  assert.equal(heartbeatIntervalMs(6_000), 600);
  assert.equal(heartbeatIntervalMs(1_000), 500);
});
