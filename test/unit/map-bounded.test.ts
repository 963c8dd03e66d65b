import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mapBounded } from '../../lib/map-bounded.ts';

/** A task that settles when the test says so. */
function deferred(): { promise: Promise<void>; resolve: () => void; reject: (err: Error) => void } {
  let resolve!: () => void;
  let reject!: (err: Error) => void;
  const promise = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

test('results keep input order with at most `limit` in flight', async () => {
  let inFlight = 0;
  let most = 0;
  const results = await mapBounded([5, 1, 4, 2, 3], 2, async (n) => {
    most = Math.max(most, ++inFlight);
    await new Promise((resolve) => setImmediate(resolve));
    inFlight--;
    return n * 10;
  });
  assert.deepEqual(results, [50, 10, 40, 20, 30]);
  assert.equal(most, 2);
});

test('after a failure no item starts, and the error comes once the items in flight settled', async () => {
  const tasks = Array.from({ length: 10 }, () => deferred());
  const started: number[] = [];
  const settled: number[] = [];
  const run = mapBounded([...tasks.keys()], 3, async (i) => {
    started.push(i);
    await tasks[i]!.promise;
    settled.push(i);
  });
  const outcome = run.then(
    () => 'resolved',
    (err: Error) => err.message,
  );
  tasks[0]!.reject(new Error('item 0 failed'));
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(started, [0, 1, 2], 'nothing new starts after the failure');
  let done = false;
  void outcome.then(() => (done = true));
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(done, false, 'not thrown while items 1 and 2 are still in flight');
  tasks[1]!.resolve();
  tasks[2]!.resolve();
  assert.equal(await outcome, 'item 0 failed');
  assert.deepEqual(settled.sort(), [1, 2]);
});
