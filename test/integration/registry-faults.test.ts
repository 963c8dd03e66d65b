/**
 * The schema registry behind a connection that drops: the registry client retries every call
 * (all of them are safe to repeat), and a decode that cannot reach the registry is a retriable
 * failure, never the "unknown writer schema" that would dead-letter a good record.
 */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import type { Config } from '../../lib/config.ts';
import { PermitflowError } from '../../lib/errors.ts';
import { createRegistry, createSerde } from '../../schemas/serde.ts';
import { faultyProxy } from '../support/faulty-proxy.ts';
import { testConfig } from '../support/stack.ts';

const isPost = (requestLine: string): boolean => requestLine.startsWith('POST ');
const serdeVia = (config: Config, registryUrl: string) => createSerde(createRegistry({ ...config, registry: { ...config.registry, url: registryUrl } }));
const droppingProxy = (t: TestContext, registryUrl: string, times: number, how: 'cut' | 'swallow' = 'cut') => faultyProxy(t, registryUrl, { fail: isPost, times, how });

test('a connection dropped under a registration or a lookup is retried, not reported as a failure', async (t) => {
  const config = await testConfig();
  const subject = `${config.topology.namespace}.registry-faults-value`;
  const proxy = await droppingProxy(t, config.registry.url, 2);
  const throughProxy = serdeVia(config, proxy.url);

  const id = await throughProxy.register(subject, 'SubmissionReceived');
  assert.equal(proxy.failed(), 2, 'both dropped POSTs were retried');
  assert.equal(id, await createSerde(createRegistry(config)).register(subject, 'SubmissionReceived'), 'the same schema, the same id');

  const lookupProxy = await droppingProxy(t, config.registry.url, 1);
  const lookups = serdeVia(config, lookupProxy.url);
  assert.equal(await lookups.schemaId({ name: 'registry-faults', subject, schema: 'SubmissionReceived' }), id);
  assert.equal(lookupProxy.failed(), 1);
});

test('a request the registry never answers is abandoned after SCHEMA_REGISTRY_TIMEOUT_MS and retried', { timeout: 30_000 }, async (t) => {
  const config = await testConfig({ SCHEMA_REGISTRY_TIMEOUT_MS: '500' });
  const subject = `${config.topology.namespace}.registry-faults-value`;
  const proxy = await droppingProxy(t, config.registry.url, 1, 'swallow');
  const serde = serdeVia(config, proxy.url);
  const id = await serde.register(subject, 'SubmissionReceived');
  assert.equal(proxy.failed(), 1, 'the unanswered POST was retried');
  assert.equal(await serde.schemaId({ name: 'registry-faults', subject, schema: 'SubmissionReceived' }), id);
});

test('decoding: an id the registry does not know is permanent; an unreachable registry is retriable', async (t) => {
  const config = await testConfig();
  const topic = { name: `${config.topology.namespace}.registry-faults`, subject: `${config.topology.namespace}.registry-faults-value`, schema: 'SubmissionReceived' as const };
  const record = Buffer.alloc(16);
  record.writeInt32BE(2_000_000_000, 1); // magic byte 0, then an id no registry here has handed out

  const unknown = await createSerde(createRegistry(config)).decode(topic, record).then(
    () => assert.fail('an unknown writer id cannot decode'),
    (err: unknown) => err,
  );
  assert.ok(unknown instanceof PermitflowError, String(unknown));
  assert.equal(unknown.code, 'PF_DECODE_FAILED');
  assert.equal(unknown.retriable, false);

  // Every connection cut: the client's retries run out, and the failure says "try again".
  const cutAll = await faultyProxy(t, config.registry.url, { fail: () => true, times: Number.POSITIVE_INFINITY, how: 'cut' });
  const unreachable = await serdeVia(config, cutAll.url)
    .decode(topic, record)
    .then(
      () => assert.fail('nothing decodes without the registry'),
      (err: unknown) => err,
    );
  assert.ok(unreachable instanceof PermitflowError, String(unreachable));
  assert.equal(unreachable.code, 'PF_REGISTRY_UNAVAILABLE');
  assert.equal(unreachable.retriable, true);
});
