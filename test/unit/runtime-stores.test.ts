/**
 * The runtime's key-value stores (processors/runtime/stores.ts): what a handler reads and writes
 * through `ctx.store`, what becomes changelog records, what a restore rebuilds, and the horizon.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { canonicalPayload } from '../../domain/hashing.ts';
import { UndeclaredOutputError } from '../../processors/runtime/contract.ts';
import { FingerprintTable } from '../../processors/runtime/fingerprint-table.ts';
import { hashIndex, int64Codec, jsonCodec, keyValueStore, PartitionStore, processorStores, type StoreWrite } from '../../processors/runtime/stores.ts';
import type { RawRecord } from '../../processors/runtime/types.ts';
import { buildTopology } from '../../topology/topics.ts';

const topology = buildTopology({ namespace: 'stores', partitions: 6, replicationFactor: 1, minCompactionLagMs: 0 });
const day = 86_400_000;
const hash = (n: number) => canonicalPayload({ n }).hash;
const signal = new AbortController().signal;

/** The windower's declared stores, with specs as a processor gives them. */
function windowerStores(clock: () => number) {
  return processorStores('windower', topology, { 'seen-hashes': hashIndex({ horizonMs: 30 * day }), 'open-window': keyValueStore({ codec: jsonCodec<{ batchId: string }>() }) }, clock);
}

/** Changelog records as the broker would hand them back on restore. */
const asChangelog = (writes: StoreWrite[], timestamp: number): RawRecord[] => writes.map((w, i) => ({ offset: BigInt(i), timestamp, key: Buffer.from(w.key), value: w.value, headers: {} }));

test('a handler reads its own writes; they reach the store and become changelog records only on commit', async () => {
  const stores = windowerStores(() => 0);
  await stores.restore(0, () => Promise.resolve(), signal);
  const first = stores.views(0, true);
  first.view('seen-hashes').put(hash(1), 7);
  first.view('open-window').put('0', { batchId: 'b1' });
  assert.equal(first.view('seen-hashes').get(hash(1)), 7, 'its own write');
  assert.equal(stores.views(0, true).view('seen-hashes').get(hash(1)), undefined, 'not yet in the store (a dead-lettered record leaves nothing)');
  const writes = first.commit();
  assert.deepEqual(
    writes.map((w) => [w.store, w.key, w.value && (w.store === 'seen-hashes' ? int64Codec.decode(w.value) : w.value.toString())]),
    [
      ['seen-hashes', hash(1), 7],
      ['open-window', '0', '{"batchId":"b1"}'],
    ],
  );
  const next = stores.views(0, true);
  assert.equal(next.view('seen-hashes').get(hash(1)), 7);
  next.view('open-window').delete('0');
  assert.equal(next.view('open-window').get('0'), undefined);
  assert.deepEqual(next.commit(), [{ store: 'open-window', key: '0', value: null }], 'a delete is a tombstone');
  assert.equal(stores.views(0, true).view('open-window').get('0'), undefined);
});

test('a restore replays the changelog (deletes included) into fresh stores; partitions are apart', async () => {
  const writer = windowerStores(() => 0);
  await writer.restore(1, () => Promise.resolve(), signal);
  const a = writer.views(1, true);
  a.view('seen-hashes').put(hash(1), 1);
  a.view('seen-hashes').put(hash(2), 2);
  a.view('open-window').put('1', { batchId: 'b1' });
  const b = writer.views(1, true);
  b.view('seen-hashes').delete(hash(2));
  b.view('open-window').put('1', { batchId: 'b2' });
  const log = [...a.commit(), ...b.commit()];

  const reader = windowerStores(() => 1_000);
  await reader.restore(1, (changelog, onRecord) => {
    assert.equal(changelog, topology.changelog('windower', changelog.includes('seen-hashes') ? 'seen-hashes' : 'open-window'), 'the runtime names the changelog');
    const store = changelog.includes('seen-hashes') ? 'seen-hashes' : 'open-window';
    for (const r of asChangelog(log.filter((w) => w.store === store), 0)) onRecord(r);
    return Promise.resolve();
  }, signal);
  const view = reader.views(1, false).view;
  assert.equal(view('seen-hashes').get(hash(1)), 1);
  assert.equal(view('seen-hashes').get(hash(2)), undefined, 'deleted');
  assert.deepEqual(view('open-window').get('1'), { batchId: 'b2' }, 'the newest write wins');
  assert.throws(() => view('seen-hashes').put(hash(3), 3), TypeError, 'a restore writes nothing');
  await assert.rejects(Promise.resolve().then(() => reader.views(2, true).view('seen-hashes')), TypeError, 'partition 2 was never restored here');
});

test('an abandoned restore leaves the stores it would replace', async () => {
  const stores = windowerStores(() => 0);
  await stores.restore(0, () => Promise.resolve(), signal);
  const writes = stores.views(0, true);
  writes.view('seen-hashes').put(hash(1), 1);
  writes.commit();
  const abandoned = new AbortController();
  abandoned.abort();
  await assert.rejects(stores.restore(0, () => Promise.resolve(), abandoned.signal));
  assert.equal(stores.views(0, true).view('seen-hashes').get(hash(1)), 1);
});

test('a store the processor did not declare is refused, in a spec and in ctx.store', () => {
  assert.throws(() => processorStores('windower', topology, { other: keyValueStore({ codec: jsonCodec() }) }), UndeclaredOutputError);
  assert.throws(() => processorStores('validator', topology, { 'seen-hashes': hashIndex() }), UndeclaredOutputError);
  const stores = windowerStores(() => 0);
  const view = stores.views(0, true).view as (name: string) => unknown;
  assert.throws(() => view('other-store'), (err: unknown) => err instanceof UndeclaredOutputError && /not one of its declared stores \(seen-hashes, open-window\)/.test(err.message));
});

test('a hash index refuses a key that is not a hex SHA-256', async () => {
  const stores = windowerStores(() => 0);
  await stores.restore(0, () => Promise.resolve(), signal);
  assert.throws(() => stores.views(0, true).view('seen-hashes').put('alice@example.org', 1), TypeError);
});

test('the horizon: entries are forgotten between half the horizon and the whole of it, and a restore skips older ones', () => {
  const [a, b, c, old, middle] = [1, 2, 3, 4, 5].map(hash) as [string, string, string, string, string];
  const seen = new PartitionStore(hashIndex({ horizonMs: 30 * day }), 0);
  seen.apply(a, 1, 0);
  seen.apply(b, 2, 16 * day); // turns the generation: a is now in the previous one
  assert.equal(seen.get(a), 1);
  seen.apply(c, 3, 32 * day); // turns again: a is forgotten
  assert.equal(seen.get(a), undefined);
  assert.equal(seen.get(b), 2);
  const record = (key: string, value: number, timestamp: number): RawRecord => ({ offset: 0n, timestamp, key: Buffer.from(key), value: int64Codec.encode(value), headers: {} });
  seen.restore(record(old, 9, 0), 31 * day);
  assert.equal(seen.get(old), undefined, 'written beyond the horizon');
  seen.restore(record(middle, 8, 10 * day), 31 * day);
  assert.equal(seen.get(middle), 8, 'within the horizon');
  assert.equal(int64Codec.decode(int64Codec.encode(123456789012)), 123456789012);
  // Without a horizon nothing expires.
  const kept = new PartitionStore(keyValueStore({ codec: jsonCodec<number>() }), 0);
  kept.apply('k', 1, 0);
  kept.apply('j', 2, 1_000 * day);
  assert.equal(kept.get('k'), 1);
});

test('the fingerprint table keeps every entry through growth, tells hashes apart, and deletes', () => {
  const table = new FingerprintTable(8);
  const hashes = Array.from({ length: 5_000 }, (_, n) => hash(n));
  hashes.forEach((h, n) => table.set(h, n));
  assert.equal(table.size, 5_000);
  hashes.forEach((h, n) => assert.equal(table.get(h), n));
  assert.equal(table.get(hash(-1)), undefined);
  table.set(hashes[0]!, 42);
  assert.equal(table.get(hashes[0]!), 42, 'setting again replaces');
  assert.equal(table.size, 5_000);
  table.delete(hashes[1]!);
  assert.equal(table.get(hashes[1]!), undefined);
  assert.equal(table.get(hashes[2]!), 2, 'probing goes past a deleted slot');
  table.set(hashes[1]!, 5);
  assert.equal(table.get(hashes[1]!), 5);
  for (let n = 5_000; n < 12_000; n++) table.set(hash(n), n); // grows past deleted slots
  assert.equal(table.get(hashes[1]!), 5);
  assert.equal(table.get(hash(11_999)), 11_999);
});
