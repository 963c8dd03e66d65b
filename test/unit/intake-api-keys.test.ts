import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createApiKey, generateApiKey, readKeyFile, revokeApiKey, verifierOf, watchApiKeys } from '../../connectors/intake/api-keys.ts';

const tempFile = () => join(mkdtempSync(join(tmpdir(), 'permitflow-keys-')), 'api-keys.json');

async function until(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('a generated key verifies to its client and scopes; the record holds only its digest', () => {
  const { key, record } = generateApiKey({ client: 'portal', scopes: ['submit', 'read'] });
  assert.match(key, /^pfk_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/);
  const secret = key.slice('pfk_'.length + record.id.length + 1);
  assert.equal(secret.length, 43);
  assert.ok(!JSON.stringify(record).includes(secret), 'the secret is not in the record');
  const principal = verifierOf([record]).verify(key);
  assert.deepEqual(principal, { keyId: record.id, client: 'portal', scopes: ['submit', 'read'], rateLimitPerSecond: null });
});

test('a wrong secret, an unknown id or a malformed key verifies to nothing', () => {
  const { key, record } = generateApiKey({ client: 'portal', scopes: ['submit'] });
  const verifier = verifierOf([record]);
  const lastChar = key.at(-1) === 'A' ? 'B' : 'A';
  assert.equal(verifier.verify(key.slice(0, -1) + lastChar), undefined);
  assert.equal(verifier.verify(key.replace(record.id, '000000000000')), undefined);
  assert.equal(verifier.verify('not-a-key'), undefined);
  assert.equal(verifier.verify(''), undefined);
});

test('keys are created into a 0600 file, listed and revoked', () => {
  const file = tempFile();
  const a = createApiKey(file, { client: 'portal', scopes: ['submit', 'read'] });
  const b = createApiKey(file, { client: 'clerk-tool', scopes: ['read'], rateLimitPerSecond: 20 });
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.deepEqual(readKeyFile(file).map((r) => [r.client, r.scopes, r.rateLimitPerSecond]), [['portal', ['submit', 'read'], null], ['clerk-tool', ['read'], 20]]);
  const text = readFileSync(file, 'utf8');
  assert.ok(!text.includes(a.key) && !text.includes(b.key), 'keys themselves are never stored');
  assert.equal(revokeApiKey(file, a.record.id), true);
  assert.equal(revokeApiKey(file, a.record.id), false);
  assert.deepEqual(readKeyFile(file).map((r) => r.id), [b.record.id]);
});

test('client ids and scopes are checked', () => {
  assert.throws(() => generateApiKey({ client: 'Portal Users', scopes: ['submit'] }), /client id/);
  assert.throws(() => generateApiKey({ client: 'portal', scopes: [] }), /at least one scope/);
});

test('a missing key file means no keys; a corrupt one is a clear error', () => {
  const file = tempFile();
  assert.deepEqual(readKeyFile(file), []);
  writeFileSync(file, '{"keys": [{"id": "x"}]}');
  assert.throws(() => readKeyFile(file), /not a valid API key file/);
});

test('a running store picks up created and revoked keys, and keeps the old keys if the file turns invalid', async (t) => {
  const file = tempFile();
  const first = createApiKey(file, { client: 'portal', scopes: ['submit'] });
  const errors: unknown[] = [];
  const store = watchApiKeys(file, { watchIntervalMs: 20, onError: (e) => errors.push(e) });
  t.after(() => store.close());
  assert.equal(store.verify(first.key)?.client, 'portal');

  const second = createApiKey(file, { client: 'agency-odot', scopes: ['submit'] });
  await until(() => store.verify(second.key) !== undefined, 'the new key');
  revokeApiKey(file, first.record.id);
  await until(() => store.verify(first.key) === undefined, 'the revocation');

  writeFileSync(file, 'garbage');
  await until(() => errors.length > 0, 'the reload error');
  assert.equal(store.verify(second.key)?.client, 'agency-odot');
});
