/**
 * The object store behind a connection that fails: a PUT the store never answers is abandoned
 * after S3_REQUEST_TIMEOUT_MS and retried, and one whose connection drops is retried, so a claim
 * check or a batch archive is written once and a windower's commit never waits for ever.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { createObjectStore } from '../../connectors/object-store.ts';
import { faultyProxy } from '../support/faulty-proxy.ts';
import { testConfig } from '../support/stack.ts';

const isPut = (requestLine: string): boolean => requestLine.startsWith('PUT ');

for (const how of ['swallow', 'cut'] as const) {
  test(`a PUT the store ${how === 'swallow' ? 'never answers' : 'drops'} is retried and the object is written once`, { timeout: 60_000 }, async (t) => {
    const config = await testConfig({ S3_REQUEST_TIMEOUT_MS: '1000' });
    const proxy = await faultyProxy(t, config.s3.endpoint!, { fail: isPut, times: 1, how });
    const store = createObjectStore({ ...config, s3: { ...config.s3, endpoint: proxy.url } });
    t.after(() => store.close());
    const key = `test/object-store-faults/${randomBytes(8).toString('hex')}`;
    const body = Buffer.from(`{"archive":"${how}"}`);

    const started = Date.now();
    await store.putIfAbsent(key, body, { contentType: 'application/json' });
    assert.equal(proxy.failed(), 1, 'the failed PUT was retried');
    if (how === 'swallow') {
      // Abandoned at the configured 1 s, not at the SDK's own default (30 s).
      const waited = Date.now() - started;
      assert.ok(waited >= 1000 && waited < 15_000, `abandoned after ${waited} ms`);
    }
    assert.deepEqual(await store.get(key), body);
  });
}
