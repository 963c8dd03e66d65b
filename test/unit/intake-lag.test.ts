import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLagMonitor, pressureOf, retryAfterSeconds } from '../../connectors/intake/backpressure.ts';
import { drainRate, fetchGroupLag, trimSamples, type LagAdmin } from '../../lib/lag.ts';
import { createLogger } from '../../lib/logger.ts';

/** A fake admin: end offsets per topic partition, committed offsets per group. */
function fakeAdmin(state: { ends: Record<string, [low: number, high: number][]>; committed: Record<string, Record<string, number[]>> }): LagAdmin {
  const admin: Pick<LagAdmin, never> & Record<string, unknown> = {
    fetchTopicOffsets: (topic: string) =>
      Promise.resolve((state.ends[topic] ?? []).map(([low, high], partition) => ({ partition, offset: String(high), high: String(high), low: String(low) }))),
    fetchOffsets: ({ groupId, topics }: { groupId: string; topics?: string[] }) =>
      Promise.resolve(
        (topics ?? []).map((topic) => ({
          topic,
          partitions: (state.ends[topic] ?? []).map((_e, partition) => ({ partition, offset: String(state.committed[groupId]?.[topic]?.[partition] ?? -1), metadata: null })),
        })),
      ),
  };
  return admin as unknown as LagAdmin;
}

test('lag is end minus committed per partition; an uncommitted partition counts from its low watermark', async () => {
  const admin = fakeAdmin({ ends: { raw: [[0, 100], [10, 50], [0, 0]] }, committed: { g: { raw: [40, -1, -1] } } });
  const lag = await fetchGroupLag(admin, 'g', ['raw']);
  assert.deepEqual(lag.partitions.map((p) => p.lag), [60, 40, 0]);
  assert.equal(lag.lag, 100);
  assert.equal(lag.position, 40 + 10 + 0);
});

test('a commit below the low watermark (records deleted by retention) resumes at the low watermark', async () => {
  const admin = fakeAdmin({ ends: { raw: [[80, 100]] }, committed: { g: { raw: [30] } } });
  assert.equal((await fetchGroupLag(admin, 'g', ['raw'])).lag, 20);
});

test('drain rate is positions consumed per second over the samples; a reset is no progress', () => {
  assert.equal(drainRate([{ at: 0, position: 100 }, { at: 2000, position: 300 }]), 100);
  assert.equal(drainRate([{ at: 0, position: 300 }, { at: 1000, position: 0 }]), 0);
  assert.equal(drainRate([{ at: 0, position: 1 }]), 0);
  assert.deepEqual(trimSamples([{ at: 0, position: 0 }, { at: 5000, position: 1 }, { at: 9000, position: 2 }], 10_000, 6000), [{ at: 5000, position: 1 }, { at: 9000, position: 2 }]);
  assert.equal(trimSamples([{ at: 0, position: 0 }, { at: 1, position: 1 }], 1_000_000, 10).length, 2, 'the newest two are always kept');
});

test('Retry-After is the time to drain back under the threshold, bounded to [1, max]', () => {
  assert.equal(retryAfterSeconds(15_000, 10_000, 500, 120), 10);
  assert.equal(retryAfterSeconds(10_001, 10_000, 500, 120), 1);
  assert.equal(retryAfterSeconds(1_000_000, 10_000, 500, 120), 120);
  assert.equal(retryAfterSeconds(15_000, 10_000, 0, 120), 120, 'a group that is not draining gets the maximum');
});

test('the worst group above the threshold decides; under it nothing is shed', () => {
  assert.deepEqual(pressureOf([{ group: 'a', lag: 10, drainPerS: 0 }], 10, 60), { shed: false });
  assert.deepEqual(
    pressureOf([{ group: 'a', lag: 30, drainPerS: 10 }, { group: 'b', lag: 50, drainPerS: 10 }, { group: 'c', lag: 5, drainPerS: 0 }], 10, 60),
    { shed: true, retryAfterS: 4, group: 'b', lag: 50 },
  );
});

test('the monitor measures drain between polls and lifts the shed once lag is back under the threshold', async () => {
  const state = { ends: { raw: [[0, 1000]] as [number, number][] }, committed: { 'permitflow.windower': { raw: [0] } } };
  let now = 0;
  const monitor = createLagMonitor({ admin: fakeAdmin(state), targets: [{ group: 'permitflow.windower', topics: ['raw'] }], threshold: 500, pollMs: 1000, retryAfterMaxS: 60, logger: createLogger({ level: 'silent' }), clock: () => now });
  await monitor.poll();
  assert.deepEqual(monitor.pressure(), { shed: true, retryAfterS: 60, group: 'permitflow.windower', lag: 1000 });

  now = 2000;
  state.committed['permitflow.windower'].raw = [200];
  await monitor.poll();
  // 200 records in 2 s: 100/s; (800 - 500) / 100 = 3 s.
  assert.deepEqual(monitor.pressure(), { shed: true, retryAfterS: 3, group: 'permitflow.windower', lag: 800 });
  assert.equal(monitor.lastSuccessAt(), 2000);

  now = 4000;
  state.committed['permitflow.windower'].raw = [900];
  await monitor.poll();
  assert.deepEqual(monitor.pressure(), { shed: false });
  assert.deepEqual(monitor.groups(), [{ group: 'permitflow.windower', lag: 100, drainPerS: 225 }]);
});
