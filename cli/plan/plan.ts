/**
 * A capacity plan: history, forecast, backtest, measured service rates and the recommended
 * layout, as one JSON-able value that the terminal summary, the HTML report and
 * `permitflow status --json` all read.
 */
import { DateTime } from 'luxon';
import type { ArrivalHistory } from './history.ts';
import { backtest, forecastDaily, rollingBacktest, type Backtest, type DailyForecast, type EventSpec, type FitCache, type ForecastTransform, type RollingBacktest } from './forecast.ts';
import { checkAgainstBench, checkLayoutAgainstBench, MAX_UTILISATION, recommend, simulateLag, type BenchCheck, type BenchE2E, type BenchLayoutCheck, type CurrentLayout, type LagPoint, type Recommendation, type ServiceRates, type Target } from './capacity.ts';

export const HORIZON_DAYS = 56;

export interface PeakHourForecast {
  point: number[];
  upper: number[];
}

export interface Plan {
  generatedAt: string;
  history: Omit<ArrivalHistory, 'peakHourly'> & { total: number; peakHourly: number[] };
  forecast: DailyForecast & { peakHour: PeakHourForecast };
  /** The forecast day with the highest upper peak hour: what the layout is sized for. */
  peak: { day: string; daily: number; dailyUpper: number; peakHour: number; peakHourUpper: number };
  backtest: Backtest;
  /** The backtest repeated at earlier cutoffs (`--rolling N`), or null when not asked for. */
  rolling: RollingBacktest | null;
  rates: ServiceRates;
  target: Target;
  current: CurrentLayout;
  recommendation: Recommendation;
  /** The peak day through the recommended and the current layout, every ten minutes. */
  lag: { recommended: LagPoint[]; current: LagPoint[] };
  benchCheck: BenchCheck[];
  /** The layout recommended for the benchmark's highest sustained load, against what it measured. */
  benchLayout: BenchLayoutCheck | null;
  /** What the plan had to assume, said plainly. */
  assumptions: string[];
}

export interface PlanInputs {
  history: ArrivalHistory;
  bench: BenchE2E;
  rates: ServiceRates;
  target: Target;
  current: CurrentLayout;
  events?: EventSpec[];
  level?: number;
  transform?: ForecastTransform;
  /** Rolling-origin cutoffs for the backtest (0 or absent: the last four weeks only). */
  rolling?: number;
  lookupCacheHitRate?: number;
  now?: Date;
}

/** Hours most offices keep: the peak hour of a date-only export is assumed to be one of eight. */
const OFFICE_HOURS = 8;

function quantile(values: number[], q: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.round(q * (s.length - 1))))] ?? 0;
}

/**
 * The share of a day's arrivals its busiest hour takes, by weekday (1 = Monday): the mean for
 * the point forecast and the 90th percentile for the upper one. Days with fewer than 3 arrivals
 * say little about their peak and are left out.
 */
export function peakHourShares(history: ArrivalHistory): { mean: number[]; upper: number[] } {
  const flat = 1 / OFFICE_HOURS;
  const byWeekday: number[][] = Array.from({ length: 8 }, () => []);
  if (history.hasTimes) {
    history.days.forEach((d, i) => {
      if (history.daily[i]! >= 3) byWeekday[DateTime.fromISO(d).weekday]!.push(history.peakHourly[i]! / history.daily[i]!);
    });
  }
  const all = byWeekday.flat();
  const mean = byWeekday.map((r) => (r.length >= 4 ? r.reduce((a, b) => a + b, 0) / r.length : all.length ? all.reduce((a, b) => a + b, 0) / all.length : flat));
  const upper = byWeekday.map((r) => (r.length >= 4 ? quantile(r, 0.9) : all.length ? quantile(all, 0.9) : flat));
  return { mean, upper };
}

export function hourShare(history: ArrivalHistory): number[] {
  const total = history.byHour.reduce((a, b) => a + b, 0);
  if (history.hasTimes && total > 0) return history.byHour.map((n) => n / total);
  return Array.from({ length: 24 }, (_, h) => (h >= 8 && h < 8 + OFFICE_HOURS ? 1 / OFFICE_HOURS : 0));
}

export function buildPlan(inputs: PlanInputs): Plan {
  const { history, rates, target, current } = inputs;
  const assumptions: string[] = [];
  const backtestOptions = {
    ...(inputs.level !== undefined && { level: inputs.level }),
    ...(inputs.events && { events: inputs.events }),
    ...(inputs.transform && { transform: inputs.transform }),
  };
  // One cache for the forecast and both backtests: they fit the same series' prefixes.
  const cache: FitCache = new Map();
  const forecast = forecastDaily(history.days, history.daily, HORIZON_DAYS, { ...backtestOptions, cache });
  const shares = peakHourShares(history);
  if (!history.hasTimes) assumptions.push(`The history has dates but no times: each day's peak hour is taken as 1/${OFFICE_HOURS} of its arrivals (an ${OFFICE_HOURS}-hour office day).`);
  const weekdays = forecast.days.map((d) => DateTime.fromISO(d).weekday);
  const peakHour = {
    point: forecast.point.map((v, i) => v * shares.mean[weekdays[i]!]!),
    upper: forecast.upper.map((v, i) => v * shares.upper[weekdays[i]!]!),
  };
  let peakIndex = 0;
  peakHour.upper.forEach((v, i) => {
    if (v > peakHour.upper[peakIndex]!) peakIndex = i;
  });
  const peak = {
    day: forecast.days[peakIndex]!,
    daily: forecast.point[peakIndex]!,
    dailyUpper: forecast.upper[peakIndex]!,
    peakHour: peakHour.point[peakIndex]!,
    peakHourUpper: peakHour.upper[peakIndex]!,
  };
  const recommendation = recommend(peak.peakHourUpper, rates, target, current, { ...(inputs.lookupCacheHitRate !== undefined && { lookupCacheHitRate: inputs.lookupCacheHitRate }) });
  assumptions.push(
    `Arrivals within an hour are taken as Poisson (M/M/c per stage); stages are sized to at most ${Math.round(MAX_UTILISATION * 100)} % utilisation at the peak hour's upper band.`,
    `Each submission makes one request to each lookup API${inputs.lookupCacheHitRate ? ` and ${Math.round(inputs.lookupCacheHitRate * 100)} % of them are cache hits` : ' with no cache hit (distinct sites)'}.`,
    rates.live
      ? `Service rates come from ${rates.source}: records per CPU-second since each process started (a process running several stages shares its CPU among them by handling time, which charges a stage its waits on lookups).`
      : `Service rates come from ${rates.source} (processes sharing 2 cores with the stack): conservative for instances with a core each.`,
  );
  const shareOfHour = hourShare(history);
  // The peak day's own hourly shape, scaled so its busiest hour is the planned peak hour.
  const dayTotal = peak.peakHourUpper / Math.max(...shareOfHour);
  const lookupCapacity = Math.min(...recommendation.lookups.map((l) => l.submissionsPerSecond));
  const capacity = (plan: 'recommended' | 'current') =>
    plan === 'recommended' ? recommendation.capacity : Math.min(lookupCapacity, ...recommendation.stages.map((s) => s.perInstance));
  const every10 = (points: LagPoint[]) => points.filter((p) => p.minute % 10 === 0);
  const lag = {
    recommended: every10(simulateLag(dayTotal, shareOfHour, capacity('recommended'), recommendation.window.maxAgeMs)),
    current: every10(simulateLag(dayTotal, shareOfHour, capacity('current'), current.windowMaxAgeMs)),
  };
  return {
    generatedAt: (inputs.now ?? new Date()).toISOString(),
    history: { ...history, total: history.daily.reduce((a, b) => a + b, 0) },
    forecast: { ...forecast, peakHour },
    peak,
    backtest: backtest(history.days, history.daily, { ...backtestOptions, cache }),
    rolling: inputs.rolling ? rollingBacktest(history.days, history.daily, { ...backtestOptions, cache, cutoffs: inputs.rolling }) : null,
    rates,
    target,
    current,
    recommendation,
    lag,
    benchCheck: checkAgainstBench(inputs.bench, rates),
    benchLayout: checkLayoutAgainstBench(inputs.bench, rates, target, current),
    assumptions,
  };
}
