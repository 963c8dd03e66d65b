/**
 * A commit condition (processors/runtime/types.ts commitAfter) whose work fails while the handler
 * that made it throws: the condition never reaches the runtime, and its rejection must not end
 * the process as an unhandled one; the runtime, awaiting it at the commit, still sees it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setImmediate as tick } from 'node:timers/promises';
import { commitAfter } from '../../processors/runtime/types.ts';

test('a failed commit condition dropped with its handler is not an unhandled rejection; awaited, it still rejects', async () => {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  try {
    const condition = commitAfter(Promise.reject(new Error('the object store is down')));
    await tick();
    await tick();
    assert.deepEqual(unhandled, []);
    await assert.rejects(condition.awaitBeforeCommit, /object store is down/);
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
});
