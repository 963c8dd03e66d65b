/**
 * The capacity side of `permitflow plan`: service rates measured by bench/e2e, the Erlang C
 * queue per stage, the layout it recommends, what the lookup APIs' limits make impossible, and
 * the model held to the benchmark's own live runs.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { test } from 'node:test';
import { REPO_ROOT } from '../../lib/config.ts';
import { checkAgainstBench, checkLayoutAgainstBench, erlangC, latestBenchFile, loadBench, REFERENCE_BENCH, recommend, serviceRates, simulateLag, sojournQuantile, type CurrentLayout } from '../../cli/plan/capacity.ts';

// The bench/e2e run the plan's figures were checked against (2 cores, 20,000 submissions per drain).
const BENCH_FILE = join(REPO_ROOT, REFERENCE_BENCH);
const bench = loadBench(BENCH_FILE);
const rates = serviceRates(bench, BENCH_FILE);
const target = { p99Seconds: 300, maxLagSeconds: 600 };
const current: CurrentLayout = {
  partitions: 6,
  windowMaxCount: 500,
  windowMaxBytes: 25 * 1024 * 1024,
  windowMaxAgeMs: 15 * 60_000,
  lagThreshold: 50_000,
  lagHardLimit: 200_000,
  rateLimitPerClient: 500,
  lookupRateLimits: { parcels: 20, zoning: 20, overlays: 20, history: 20 },
};

test('per-stage rates come from the benchmark: throughput over the busy share of each process', () => {
  // Stages drain: 20,000 in 23.8 s; the enricher was idle 10.4 % of it, the windower 69.3 %.
  assert.ok(Math.abs(rates.perInstance.enricher - 20_000 / 23.8 / 0.896) < 1);
  assert.ok(Math.abs(rates.perInstance.windower - 20_000 / 23.8 / 0.307) < 1);
  const slowest = Object.entries(rates.perInstance).sort((a, b) => a[1] - b[1])[0]![0];
  assert.equal(slowest, 'enricher');
  assert.ok(Math.abs(rates.allInOne - 20_000 / 25.32 / 0.954) < 1);
});

test('the newest complete bench/e2e results are used; a partial run is skipped; none is null', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'permitflow-bench-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  assert.equal(latestBenchFile(join(dir, 'missing')), null);
  copyFileSync(BENCH_FILE, join(dir, 'e2e-2026-12-01T00-00-00-000Z.json'));
  writeFileSync(join(dir, 'e2e-2026-12-02T00-00-00-000Z.json'), JSON.stringify({ ...bench, drains: bench.drains.filter((d) => d.layout === 'stages'), live: [] }));
  assert.equal(latestBenchFile(dir), join(dir, 'e2e-2026-12-01T00-00-00-000Z.json'));
});

test('Erlang C and the M/M/c sojourn time match their closed forms', () => {
  // Two servers at one erlang: P(wait) = 1/3.
  assert.ok(Math.abs(erlangC(2, 1) - 1 / 3) < 1e-12);
  // One server: P(wait) = rho; p99 sojourn of M/M/1 = ln(100) / (mu - lambda).
  assert.ok(Math.abs(erlangC(1, 0.5) - 0.5) < 1e-12);
  assert.equal(sojournQuantile(10, 5, 2), Infinity);
  assert.ok(sojournQuantile(5, 10, 1) >= Math.log(100) / 10);
});

test('the layout grows with the peak: instances per stage, then partitions with a repartition', () => {
  const small = recommend(18, rates, target, current);
  assert.deepEqual(small.stages.map((s) => s.instances), [1, 1, 1, 1, 1]);
  assert.equal(small.partitions, 6);
  assert.equal(small.repartition, false);
  assert.equal(small.window.closesOn, 'age', 'at 18 an hour no batch fills to 500');
  assert.equal(small.window.maxBytes, 25 * 1024 * 1024);
  assert.ok(small.window.maxAgeMs <= 150_000, 'half the 5 min target is left for the window');
  assert.ok(small.meetsTarget);

  const busy = recommend(2_000 * 3600, rates, target, current);
  const enricher = busy.stages.find((s) => s.stage === 'enricher')!;
  assert.equal(enricher.instances, Math.ceil(2_000 / (0.7 * rates.perInstance.enricher)));
  assert.ok(busy.stages.every((s) => s.utilisation <= 0.7));

  // Lookups aside (their limits are the next test's subject).
  const surge = recommend(10_000 * 3600, rates, target, { ...current, lookupRateLimits: {} });
  assert.ok(Math.max(...surge.stages.map((s) => s.instances)) > 6);
  assert.equal(surge.partitions % 6, 0);
  assert.ok(surge.partitions >= Math.max(...surge.stages.map((s) => s.instances)));
  assert.equal(surge.repartition, true);
  assert.equal(surge.window.closesOn, 'count');
  // The lag the layout drains within max-lag while arrivals continue.
  const capacity = Math.min(...surge.stages.map((s) => s.instances * s.perInstance));
  assert.equal(surge.capacity, capacity);
  assert.equal(surge.lagHardLimit, Math.floor((capacity - 10_000) * 600));
  assert.ok(surge.rateLimitPerClient < capacity);
});

test("the lookup APIs' limits are said plainly when they make the peak impossible", () => {
  const r = recommend(500 * 3600, rates, target, current);
  assert.equal(r.meetsTarget, false);
  assert.ok(r.lookups.every((l) => !l.possible));
  assert.match(r.impossible[0]!, /The parcels API allows 20 requests\/s across all enrichers, so at most 20\.0 submissions\/s can be enriched when every site is new/);
  assert.match(r.impossible[0]!, /No number of enricher instances changes that: the enrichment backlog grows by about 1,728,000 per peak hour/);
  assert.match(r.impossible[0]!, /cache hits of at least 96 %/);
  // The intake's limits follow the lookups, the real bottleneck: 70 % of 20 submissions/s per client.
  assert.equal(recommend(18, rates, target, current).rateLimitPerClient, 14);
  assert.equal(recommend(18, rates, target, current).lagHardLimit, Math.floor((20 - 18 / 3600) * 600));
  // Past the lookups' capacity, a backlog drains only while arrivals are refused: at 20/s.
  assert.equal(r.lagHardLimit, 20 * 600);
  assert.equal(r.rateLimitPerClient, 14);
  // With 97 % of lookups answered from cache, 20 req/s carry 667 submissions/s: the peak is possible.
  assert.ok(recommend(500 * 3600, rates, target, current, { lookupCacheHitRate: 0.97 }).lookups.every((l) => l.possible));
});

test("the model agrees with every live run of the benchmark, and the recommended layout holds the target at the benchmark's load", () => {
  const checks = checkAgainstBench(bench, rates);
  assert.deepEqual(
    checks.map((c) => [c.rate, c.predictedSustainable, c.measuredSustainable]),
    [
      [500, true, true],
      [1000, false, false],
      [2000, false, false],
    ],
  );
  // At 500/s (with the benchmark's cached lookups) the recommendation is one instance per stage,
  // more capacity than the single `run all` process the benchmark measured: that process held
  // p99 2.39 s and a bounded lag, well inside the 5 min target.
  const atBench = recommend(500 * 3600, rates, target, current, { lookupCacheHitRate: 0.97 });
  assert.deepEqual(atBench.stages.map((s) => s.instances), [1, 1, 1, 1, 1]);
  assert.ok(Math.min(...atBench.stages.map((s) => s.instances * s.perInstance)) > rates.allInOne);
  assert.ok(atBench.meetsTarget);
  const measured = checks.find((c) => c.rate === 500)!;
  assert.ok(measured.measuredSustainable && measured.measuredP99Seconds <= target.p99Seconds);
  assert.deepEqual(checkLayoutAgainstBench(bench, rates, target, current), {
    rate: 500,
    recommended: { windower: 1, enricher: 1, validator: 1, decider: 1, 'read-model': 1 },
    capacity: rates.perInstance.enricher,
    measuredP99Seconds: 2.39,
    measuredMaxLag: 7903,
    holds: true,
  });
  // Held to a 2 s target, the benchmark's own 2.39 s says no.
  assert.equal(checkLayoutAgainstBench(bench, rates, { p99Seconds: 2, maxLagSeconds: 600 }, current)?.holds, false);
});

test('the simulated peak day drains under enough capacity and builds a backlog under too little', () => {
  const share = Array.from({ length: 24 }, (_, h) => (h >= 8 && h < 16 ? 1 / 8 : 0));
  const enough = simulateLag(8 * 3600, share, 2, 60_000);
  assert.ok(Math.max(...enough.map((p) => p.lag)) < 100);
  assert.equal(enough.at(-1)!.lag, 0);
  const short = simulateLag(8 * 3600, share, 0.5, 60_000);
  // Arrivals 1/s for 8 hours against 0.5/s: 14,400 behind at 16:00, drained by midnight.
  assert.ok(Math.abs(short[16 * 60 - 1]!.lag - 14_400) < 100);
  assert.equal(short.at(-1)!.lag, 0);
});
