/**
 * Retry topics owned by the runtime (issue 12): a handler throws RetryLater, the runtime picks the
 * processor's next declared retry topic, carries the history in headers, and after the last one
 * gives up with a permanent error holding that history (the dead letter's attempt and chain).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { RetryHistory } from '../../lib/dead-letter.ts';
import { PermitflowError } from '../../lib/errors.ts';
import { createLogger } from '../../lib/logger.ts';
import { RETRY_HEADERS, retryRouter, RetryLater } from '../../processors/runtime/retry.ts';
import type { InputRecord, RecordContext, TopicOutput } from '../../processors/runtime/types.ts';
import { buildTopology, type TopicId } from '../../topology/topics.ts';

const topology = buildTopology({ namespace: 'retry', partitions: 3, replicationFactor: 1, minCompactionLagMs: 0 });
const ctx = { processor: 'enricher', workerId: 'w', logger: createLogger({ level: 'silent' }), traceparent: '', signal: new AbortController().signal, pauseUntil: () => undefined } satisfies RecordContext;
const lookupDown = PermitflowError.retriable('PF_LOOKUP_FAILED', 'parcel API answered 503');

function record(on: TopicId, headers: Record<string, string> = {}): InputRecord {
  return { topic: topology.topics[on], partition: 0, offset: '7', timestamp: 0, key: 'a'.repeat(64), value: { header: { attempt: 1, batchId: 'b' } }, headers };
}

test('a RetryLater goes to the next declared retry topic with the attempt and the history', async () => {
  const route = retryRouter('enricher', topology);
  const [first] = (await route(record('chunked'), ctx, () => Promise.reject(new RetryLater(lookupDown)))) as TopicOutput[];
  assert.equal(first!.topic.id, 'retryEnrich1');
  assert.deepEqual(first!.value, { header: { attempt: 2, batchId: 'b' } });
  assert.deepEqual(JSON.parse(first!.headers![RETRY_HEADERS.errors]!), ['PF_LOOKUP_FAILED: parcel API answered 503']);
  const firstFailureAt = first!.headers![RETRY_HEADERS.firstFailureAt]!;

  const [second] = (await route(record('retryEnrich1', first!.headers), ctx, () => Promise.reject(new RetryLater(lookupDown)))) as TopicOutput[];
  assert.equal(second!.topic.id, 'retryEnrich2');
  assert.equal(second!.headers![RETRY_HEADERS.firstFailureAt], firstFailureAt, 'the first failure time travels on');
  assert.equal((JSON.parse(second!.headers![RETRY_HEADERS.errors]!) as string[]).length, 2);
});

test('after the last retry topic the record is given up with its history', async () => {
  const route = retryRouter('enricher', topology);
  const headers = { [RETRY_HEADERS.firstFailureAt]: '1000', [RETRY_HEADERS.errors]: JSON.stringify(['PF_LOOKUP_FAILED: a', 'PF_LOOKUP_FAILED: b', 'PF_LOOKUP_FAILED: c']) };
  await assert.rejects(route(record('retryEnrich3', headers), ctx, () => Promise.reject(new RetryLater(lookupDown, { exhaustedCode: 'PF_LOOKUP_EXHAUSTED', what: 'lookups' }))), (err: unknown) => {
    assert.ok(err instanceof PermitflowError && !err.retriable);
    assert.equal(err.code, 'PF_LOOKUP_EXHAUSTED');
    assert.equal(err.message, 'lookups still failing after 4 attempts');
    const history = err.context as RetryHistory;
    assert.equal(history.attempt, 4);
    assert.equal(history.firstFailureAt, 1000);
    assert.equal(history.priorErrors!.length, 3);
    return true;
  });
});

test('a processor without retry topics retries the batch (the cause is rethrown); other errors pass through', async () => {
  await assert.rejects(retryRouter('validator', topology)(record('enriched'), ctx, () => Promise.reject(new RetryLater(lookupDown))), (err: unknown) => err === lookupDown);
  const bug = new TypeError('x is undefined');
  await assert.rejects(retryRouter('enricher', topology)(record('chunked'), ctx, () => Promise.reject(bug)), (err: unknown) => err === bug);
  assert.deepEqual(await retryRouter('enricher', topology)(record('chunked'), ctx, () => []), []);
});
