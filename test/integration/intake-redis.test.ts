/**
 * The intake's Redis-backed stores against the real Redis: the Idempotency-Key state machine
 * (atomic reserve, owner-only complete and release, in-flight marker expiry), status receipts,
 * and the shared rate limit.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test, type TestContext } from 'node:test';
import { Redis } from 'ioredis';
import { sha256Hex } from '../../domain/hashing.ts';
import { redisIdempotencyStore, type StoredResponse } from '../../connectors/intake/idempotency.ts';
import { redisRateLimiter } from '../../connectors/intake/rate-limit.ts';
import { redisReceipts } from '../../connectors/intake/status.ts';
import { eventually } from '../support/intake-stack.ts';
import { testConfig } from '../support/stack.ts';
import { purgeKeys } from '../support/redis.ts';

async function redisFor(t: TestContext): Promise<{ redis: Redis; prefix: string }> {
  const config = await testConfig();
  const redis = new Redis(config.redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  const prefix = `permitflow:${config.topology.namespace}:intake`;
  t.after(async () => {
    await purgeKeys(redis, `${prefix}:`);
    redis.disconnect();
  });
  return { redis, prefix };
}

const response: StoredResponse = { status: 202, headers: { location: '/v1/submissions/abc' }, body: '{"status":"received"}' };

test('idempotency: one reservation wins a race; others see in-flight, then the stored response; another body is a mismatch', async (t) => {
  const { redis, prefix } = await redisFor(t);
  const store = redisIdempotencyStore(redis, { prefix: `${prefix}:idem`, ttlMs: 60_000, inFlightTtlMs: 60_000 });
  const scope = { client: 'portal', key: randomBytes(8).toString('hex') };
  const results = await Promise.all(Array.from({ length: 50 }, () => store.reserve(scope, 'fp-1')));
  const reserved = results.filter((r) => r.kind === 'reserved');
  assert.equal(reserved.length, 1);
  assert.ok(results.every((r) => r.kind === 'reserved' || r.kind === 'in-flight'));
  assert.deepEqual(await store.reserve(scope, 'fp-2'), { kind: 'mismatch' });

  const token = (reserved[0] as { token: string }).token;
  await store.complete(scope, 'fp-1', 'not-the-owner', { ...response, status: 500 });
  assert.deepEqual(await store.reserve(scope, 'fp-1'), { kind: 'in-flight' }, 'only the owner completes');
  await store.complete(scope, 'fp-1', token, response);
  assert.deepEqual(await store.reserve(scope, 'fp-1'), { kind: 'replay', response });
  assert.deepEqual(await store.reserve(scope, 'fp-2'), { kind: 'mismatch' });
  assert.ok((await redis.pttl(`${prefix}:idem:portal:${sha256Hex(scope.key)}`)) > 50_000, 'completed entries keep the full TTL');
});

test('idempotency: a released reservation frees the key; a crashed one expires with its in-flight TTL', async (t) => {
  const { redis, prefix } = await redisFor(t);
  const store = redisIdempotencyStore(redis, { prefix: `${prefix}:idem`, ttlMs: 60_000, inFlightTtlMs: 300 });
  const scope = { client: 'portal', key: 'k-release' };
  const first = await store.reserve(scope, 'fp');
  assert.equal(first.kind, 'reserved');
  await store.release(scope, 'someone-else');
  assert.equal((await store.reserve(scope, 'fp')).kind, 'in-flight', 'a stranger cannot release');
  await store.release(scope, (first as { token: string }).token);
  assert.equal((await store.reserve(scope, 'fp')).kind, 'reserved');

  const crashed = { client: 'portal', key: 'k-crash' };
  assert.equal((await store.reserve(crashed, 'fp')).kind, 'reserved');
  await eventually('the in-flight marker to expire', async () => ((await store.reserve(crashed, 'fp')).kind === 'reserved' ? true : undefined), 5000);
});

test('keys are scoped per client', async (t) => {
  const { redis, prefix } = await redisFor(t);
  const store = redisIdempotencyStore(redis, { prefix: `${prefix}:idem`, ttlMs: 60_000, inFlightTtlMs: 60_000 });
  assert.equal((await store.reserve({ client: 'portal', key: 'same' }, 'a')).kind, 'reserved');
  assert.equal((await store.reserve({ client: 'agency-odot', key: 'same' }, 'b')).kind, 'reserved');
});

test('idempotency keys expire and are bounded per client: past the bound a client forgets its own oldest keys, not another client\'s', async (t) => {
  const { redis, prefix } = await redisFor(t);
  let now = 1_000_000;
  const store = redisIdempotencyStore(redis, { prefix: `${prefix}:idem`, ttlMs: 60_000, inFlightTtlMs: 5_000, maxKeysPerClient: 5, clock: () => now });
  const use = async (client: string, key: string) => {
    const r = await store.reserve({ client, key }, 'fp');
    if (r.kind === 'reserved') await store.complete({ client, key }, 'fp', r.token, response);
    return r.kind;
  };
  assert.equal(await use('agency-odot', 'kept'), 'reserved');
  for (let i = 0; i < 8; i++) {
    now += 10;
    assert.equal(await use('portal', `key-${i}`), 'reserved');
  }
  const keysOf = async (client: string) => {
    const found: string[] = [];
    for await (const keys of redis.scanStream({ match: `${prefix}:idem:${client}:*`, count: 500 })) found.push(...(keys as string[]));
    return found.filter((k) => !k.endsWith('~index'));
  };
  assert.equal((await keysOf('portal')).length, 5, 'the bound holds');
  for (const key of await keysOf('portal')) assert.ok((await redis.pttl(key)) > 0, 'every entry expires');
  assert.equal(await use('portal', 'key-7'), 'replay', 'the newest are kept');
  assert.equal(await use('portal', 'key-0'), 'reserved', 'the oldest was forgotten: a retry runs again');
  assert.equal(await use('agency-odot', 'kept'), 'replay', "another client's keys are untouched");
  assert.ok((await redis.pttl(`${prefix}:idem:portal:~index`)) > 0, 'the index expires too');

  // Keys older than the TTL leave the index, so they do not count against the bound.
  now += 120_000;
  await use('portal', 'later');
  assert.equal(await redis.zcard(`${prefix}:idem:portal:~index`), 1);
});

test('receipts keep the first receipt time and each submitting client, and expire', async (t) => {
  const { redis, prefix } = await redisFor(t);
  const receipts = redisReceipts(redis, { prefix: `${prefix}:receipt`, ttlMs: 60_000 });
  const id = randomBytes(32).toString('hex');
  assert.equal(await receipts.get(id), undefined);
  await receipts.received(id, 1000, 'portal');
  await receipts.received(id, 2000, 'agency-odot');
  assert.deepEqual(await receipts.get(id), { submissionId: id, status: 'received', receivedAt: 1000, timeline: [{ state: 'received', at: 1000 }] });
  assert.ok((await redis.pttl(`${prefix}:receipt:${id}`)) > 0);
  assert.equal(await receipts.submittedBy(id, 'portal'), true);
  assert.equal(await receipts.submittedBy(id, 'agency-odot'), true);
  assert.equal(await receipts.submittedBy(id, 'other-portal'), false);
  assert.ok((await redis.pttl(`${prefix}:receipt:${id}:by:portal`)) > 0);
});

test('the rate limit is shared by limiters on separate connections (as separate instances would be)', async (t) => {
  const { redis, prefix } = await redisFor(t);
  const other = redis.duplicate();
  await other.connect();
  t.after(() => other.disconnect());
  const a = redisRateLimiter(redis, { prefix: `${prefix}:rate` });
  const b = redisRateLimiter(other, { prefix: `${prefix}:rate` });
  // Within one window: 4 allowed in total, whichever instance takes them. A window boundary may
  // split the burst: then retry with another client (a fresh budget).
  for (let attempt = 0; ; attempt++) {
    const client = `portal-${attempt}`;
    const decisions = await Promise.all([a, a, b, b, a, b].map((limiter) => limiter.consume(client, 4)));
    const refused = decisions.filter((d) => !d.allowed);
    if (refused.length === 2) {
      for (const d of refused) assert.ok(!d.allowed && d.retryAfterMs > 0 && d.retryAfterMs <= 1000);
      break;
    }
    assert.ok(attempt < 3, `expected 2 refusals of 6 in one window, got ${refused.length}`);
  }
});
