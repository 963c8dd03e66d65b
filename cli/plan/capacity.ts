/**
 * What to run for a forecast peak: per-stage service rates measured by `bench/e2e`, an M/M/c
 * (Erlang C) queue per stage at the forecast peak hour, and a minute-by-minute fluid simulation
 * of the peak day through the recommended layout (the lag it would see).
 *
 * Service rates are measured, not assumed: in the benchmark's one-process-per-stage drain, each
 * stage's rate per instance is its throughput over the drain divided by the share of the drain
 * its process was busy (the utilisation law, X = U x mu). Those processes shared two cores with
 * each other and the stack, so the rates are conservative for an instance with a core of its own.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PermitflowError } from '../../lib/errors.ts';

export const STAGES = ['windower', 'enricher', 'validator', 'decider', 'read-model'] as const;
export type Stage = (typeof STAGES)[number];

/** The parts of a `bench/e2e` results file the plan reads. */
export interface BenchE2E {
  startedAt: string;
  rows: number;
  drains: {
    layout: string;
    rows: number;
    seconds: number;
    decisionsPerSecond: number;
    processes: { name: string; cpuSeconds: number; profile?: { idle: number } }[];
  }[];
  live: { rate: number; seconds: number; layout: string; sustainable: boolean; maxLag: number; endToEnd: { p99: number } }[];
}

export interface ServiceRates {
  /** Records per second one instance of each stage handles when busy. */
  perInstance: Record<Stage, number>;
  /** One `run all` process (every stage in one process). */
  allInOne: number;
  /** The results file they come from. */
  source: string;
  /** Some rates were measured on running processes (plan --metrics), not taken from a benchmark. */
  live?: boolean;
}

/**
 * The bench/e2e run committed with the project (bench/e2e/reference/, its Markdown beside it):
 * the service rates a fresh checkout plans with until `make bench-e2e` measures this machine.
 */
export const REFERENCE_BENCH = 'bench/e2e/reference/e2e-2026-12-03T13-31-07-888Z.json';

/**
 * The newest complete `bench/e2e` results file in `dir`: both drains (the service rates) and the
 * live runs (the check). A run cut short, or one with `--only`, leaves a partial file: skipped.
 * Null when there is none (bench/results is not committed: a fresh checkout has none).
 */
export function latestBenchFile(dir: string): string | null {
  const files = existsSync(dir) ? readdirSync(dir).filter((f) => /^e2e-.*\.json$/.test(f)).sort().reverse() : [];
  for (const f of files) {
    const bench = loadBench(join(dir, f));
    const layouts = new Set(bench.drains?.map((d) => d.layout));
    if (layouts.has('all') && layouts.has('stages') && bench.live?.length > 0) return join(dir, f);
  }
  return null;
}

export function loadBench(file: string): BenchE2E {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as BenchE2E;
  } catch (err) {
    throw PermitflowError.permanent('PF_PLAN_NO_BENCH', `${file}: cannot read the bench results (${(err as Error).message})`, { cause: err });
  }
}

function busyRate(rows: number, seconds: number, process: { cpuSeconds: number; profile?: { idle: number } }): number {
  // The profile's idle share when there is one; else CPU seconds over wall seconds.
  const busy = process.profile ? 1 - process.profile.idle / 100 : process.cpuSeconds / seconds;
  return rows / seconds / Math.max(0.01, busy);
}

export function serviceRates(bench: BenchE2E, source: string): ServiceRates {
  const stages = bench.drains.find((d) => d.layout === 'stages');
  const all = bench.drains.find((d) => d.layout === 'all');
  if (!stages || !all) throw PermitflowError.permanent('PF_PLAN_NO_BENCH', `${source}: needs both drains (layout all and stages)`);
  const perInstance = {} as Record<Stage, number>;
  for (const stage of STAGES) {
    const p = stages.processes.find((x) => x.name === stage);
    if (!p) throw PermitflowError.permanent('PF_PLAN_NO_BENCH', `${source}: the stages drain has no process ${stage}`);
    perInstance[stage] = busyRate(stages.rows, stages.seconds, p);
  }
  const allProcess = all.processes.find((x) => x.name === 'all');
  if (!allProcess) throw PermitflowError.permanent('PF_PLAN_NO_BENCH', `${source}: the all drain has no process all`);
  return { perInstance, allInOne: busyRate(all.rows, all.seconds, allProcess), source };
}

// ---------------------------------------------------------------------------------------------
// Queueing

/** Erlang C: probability an arrival waits, for c servers at offered load a = lambda / mu. */
export function erlangC(c: number, a: number): number {
  if (a >= c) return 1;
  // Erlang B by its stable recursion, then C from B.
  let b = 1;
  for (let k = 1; k <= c; k++) b = (a * b) / (k + a * b);
  return b / (1 - (a / c) * (1 - b));
}

/** The p-quantile of the time in an M/M/c system (wait + service), in seconds. */
export function sojournQuantile(lambda: number, mu: number, c: number, p = 0.99): number {
  if (lambda >= c * mu) return Infinity;
  const pw = erlangC(c, lambda / mu);
  const drain = c * mu - lambda;
  // P(W > t) = pw e^{-drain t}; service adds its own exponential tail: bounded by their sum.
  const wait = pw <= 1 - p ? 0 : Math.log(pw / (1 - p)) / drain;
  return wait + Math.log(1 / (1 - p)) / mu;
}

// ---------------------------------------------------------------------------------------------
// Recommendation

export interface Target {
  /** End-to-end p99 from receipt to decision, seconds. */
  p99Seconds: number;
  /** Longest a backlog may take to drain, seconds. */
  maxLagSeconds: number;
}

export interface CurrentLayout {
  partitions: number;
  windowMaxCount: number;
  windowMaxBytes: number;
  windowMaxAgeMs: number;
  lagThreshold: number;
  lagHardLimit: number;
  rateLimitPerClient: number;
  /** Requests per second each lookup API allows, across all enrichers. */
  lookupRateLimits: Record<string, number>;
}

export interface LookupVerdict {
  api: string;
  limitPerSecond: number;
  /** Submissions per second the limit lets through (one uncached request per submission). */
  submissionsPerSecond: number;
  possible: boolean;
}

export interface StagePlan {
  stage: Stage;
  perInstance: number;
  instances: number;
  utilisation: number;
  p99Seconds: number;
}

export interface Recommendation {
  /** The arrival rate planned for: the forecast peak hour's upper band, per second. */
  peakPerSecond: number;
  stages: StagePlan[];
  /** Submissions per second the layout decides: its slowest stage, or the lookup limits if lower. */
  capacity: number;
  partitions: number;
  repartition: boolean;
  window: { maxCount: number; maxBytes: number; maxAgeMs: number; closesOn: 'count' | 'age' };
  lagThreshold: number;
  lagHardLimit: number;
  rateLimitPerClient: number;
  /** Seconds a record spends from receipt to decision at p99 (window age included). */
  p99Seconds: number;
  meetsTarget: boolean;
  lookups: LookupVerdict[];
  /** Plain sentences: what the layout cannot do and why. */
  impossible: string[];
}

/** Highest utilisation planned for a stage: the headroom absorbs what the band does not. */
export const MAX_UTILISATION = 0.7;

export function recommend(peakPerHour: number, rates: ServiceRates, target: Target, current: CurrentLayout, options: { lookupCacheHitRate?: number } = {}): Recommendation {
  const lambda = peakPerHour / 3600;
  const stages: StagePlan[] = STAGES.map((stage) => {
    const mu = rates.perInstance[stage];
    let c = Math.max(1, Math.ceil(lambda / (MAX_UTILISATION * mu)));
    // More instances when queueing alone would eat more than a tenth of the target.
    while (sojournQuantile(lambda, mu, c) > target.p99Seconds / 10 && c < 1000) c++;
    return { stage, perInstance: mu, instances: c, utilisation: lambda / (c * mu), p99Seconds: sojournQuantile(lambda, mu, c) };
  });
  const maxInstances = Math.max(...stages.map((s) => s.instances));
  // A consumer group uses at most one instance per partition; grow in steps of the current count.
  const partitions = Math.max(current.partitions, Math.ceil(maxInstances / current.partitions) * current.partitions);
  const processing = stages.reduce((sum, s) => sum + s.p99Seconds, 0);

  // The window holds a record until its batch closes: at most maxAge. Keep half the target for it.
  const ageBudgetMs = Math.max(1000, Math.floor(((target.p99Seconds - processing) / 2) * 1000));
  const maxAgeMs = Math.min(current.windowMaxAgeMs, Math.floor(ageBudgetMs / 1000) * 1000);
  const perPartitionPerAge = (lambda / partitions) * (maxAgeMs / 1000);
  const closesOn = perPartitionPerAge >= current.windowMaxCount ? 'count' : 'age';
  // Size closes a batch first only when its submissions average more than maxBytes / maxCount.
  const window = { maxCount: current.windowMaxCount, maxBytes: current.windowMaxBytes, maxAgeMs, closesOn } as const;

  const hit = options.lookupCacheHitRate ?? 0;
  const lookups = Object.entries(current.lookupRateLimits).map(([api, limit]) => {
    const submissionsPerSecond = limit / Math.max(1e-9, 1 - hit);
    return { api, limitPerSecond: limit, submissionsPerSecond, possible: submissionsPerSecond >= lambda };
  });
  // Enrichment cannot outrun the lookup APIs' limits, whatever the number of enrichers.
  const bottleneck = Math.min(...stages.map((s) => s.instances * s.perInstance), ...lookups.map((l) => l.submissionsPerSecond));
  // A backlog B drains in B / (capacity - lambda) while arrivals go on: past that, max-lag is
  // lost, so every client waits (hard limit); shedding the heaviest clients starts at half of it.
  // When the peak outruns the capacity, only refused arrivals let a backlog drain: B / capacity.
  const drainRate = bottleneck > lambda ? bottleneck - lambda : bottleneck;
  const lagHardLimit = Math.max(2, Math.floor(drainRate * target.maxLagSeconds));
  const lagThreshold = Math.max(1, Math.floor(lagHardLimit / 2));
  // No single client may alone send more than the layout decides with its headroom.
  const rateLimitPerClient = Math.max(1, Math.floor(MAX_UTILISATION * bottleneck));

  const impossible: string[] = [];
  for (const l of lookups.filter((x) => !x.possible)) {
    const backlogPerHour = Math.round((lambda - l.submissionsPerSecond) * 3600);
    impossible.push(
      `The ${l.api} API allows ${l.limitPerSecond} requests/s across all enrichers, so at most ${fmt(l.submissionsPerSecond)} submissions/s can be enriched` +
        `${hit > 0 ? ` at a ${Math.round(hit * 100)} % cache hit rate` : ' when every site is new (no cache hit)'}; the forecast peak brings ${fmt(lambda)}/s. ` +
        `No number of enricher instances changes that: the enrichment backlog grows by about ${backlogPerHour.toLocaleString('en-US')} per peak hour. Raise the limit with the API's owner, or plan on cache hits of at least ${Math.ceil((1 - l.limitPerSecond / lambda) * 100)} %.`,
    );
  }
  const p99Seconds = processing + maxAgeMs / 1000;
  if (p99Seconds > target.p99Seconds) {
    impossible.push(`Even with the window closing after ${maxAgeMs / 1000} s, receipt to decision takes about ${fmt(p99Seconds)} s at p99, above the ${target.p99Seconds} s target.`);
  }
  return {
    peakPerSecond: lambda,
    stages,
    capacity: bottleneck,
    partitions,
    repartition: partitions > current.partitions,
    window,
    lagThreshold,
    lagHardLimit,
    rateLimitPerClient,
    p99Seconds,
    meetsTarget: p99Seconds <= target.p99Seconds && impossible.length === 0,
    lookups,
    impossible,
  };
}

export function fmt(n: number): string {
  return n >= 100 ? Math.round(n).toLocaleString('en-US') : n >= 1 ? n.toFixed(1) : n.toPrecision(2);
}

// ---------------------------------------------------------------------------------------------
// Simulation

export interface LagPoint {
  minute: number;
  arrivals: number;
  lag: number;
}

/**
 * The peak day minute by minute: `dayTotal` arrivals spread over the hours by `hourShare`, through
 * a pipeline that decides at most `capacityPerSecond`. Lag is what arrived and is not decided
 * yet, the window's contents included (up to `windowAgeMs` of arrivals wait for their batch).
 */
export function simulateLag(dayTotal: number, hourShare: number[], capacityPerSecond: number, windowAgeMs: number): LagPoint[] {
  const out: LagPoint[] = [];
  let backlog = 0;
  const windowMinutes = windowAgeMs / 60_000;
  for (let minute = 0; minute < 24 * 60; minute++) {
    const arrivals = (dayTotal * (hourShare[Math.floor(minute / 60)] ?? 0)) / 60;
    backlog = Math.max(0, backlog + arrivals - capacityPerSecond * 60);
    // On average half a window of arrivals sits in open batches; the rest is queue backlog.
    out.push({ minute, arrivals, lag: backlog + arrivals * Math.min(windowMinutes, 60) * 0.5 });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Check against the benchmark

export interface BenchCheck {
  rate: number;
  predictedSustainable: boolean;
  measuredSustainable: boolean;
  measuredP99Seconds: number;
  measuredMaxLag: number;
  agrees: boolean;
}

/**
 * The model's verdict on each live benchmark run (a steady `rate` through one `run all` process)
 * next to what the benchmark measured: a layout holds a steady load when its capacity exceeds it.
 */
export function checkAgainstBench(bench: BenchE2E, rates: ServiceRates): BenchCheck[] {
  return bench.live
    .filter((run) => run.layout === 'all')
    .map((run) => {
      const predictedSustainable = run.rate < rates.allInOne;
      return {
        rate: run.rate,
        predictedSustainable,
        measuredSustainable: run.sustainable,
        measuredP99Seconds: run.endToEnd.p99,
        measuredMaxLag: run.maxLag,
        agrees: predictedSustainable === run.sustainable,
      };
    });
}

export interface BenchLayoutCheck {
  /** The steady load the benchmark ran (the highest it sustained). */
  rate: number;
  recommended: Record<Stage, number>;
  /** Records per second the recommended layout decides (its slowest stage). */
  capacity: number;
  /** What the benchmark measured at that load through one `run all` process. */
  measuredP99Seconds: number;
  measuredMaxLag: number;
  /** The layout is at least the measured one and the measured p99 is inside the target. */
  holds: boolean;
}

/**
 * One recommendation held to the benchmark: the layout the model recommends for the highest
 * load the benchmark sustained, against what the benchmark measured there with one `run all`
 * process. Lookups are left out: the benchmark's fake lookup APIs had no external limit.
 */
export function checkLayoutAgainstBench(bench: BenchE2E, rates: ServiceRates, target: Target, current: CurrentLayout): BenchLayoutCheck | null {
  const run = bench.live.filter((r) => r.layout === 'all' && r.sustainable).sort((a, b) => b.rate - a.rate)[0];
  if (!run) return null;
  const r = recommend(run.rate * 3600, rates, target, { ...current, lookupRateLimits: {} });
  const capacity = Math.min(...r.stages.map((s) => s.instances * s.perInstance));
  return {
    rate: run.rate,
    recommended: Object.fromEntries(r.stages.map((s) => [s.stage, s.instances])) as Record<Stage, number>,
    capacity,
    measuredP99Seconds: run.endToEnd.p99,
    measuredMaxLag: run.maxLag,
    holds: capacity >= rates.allInOne && run.endToEnd.p99 <= target.p99Seconds && r.meetsTarget,
  };
}
