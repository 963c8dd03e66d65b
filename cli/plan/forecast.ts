/**
 * Daily arrival forecasts for `permitflow plan`, with prediction intervals, and the backtest that
 * keeps the method honest.
 *
 * Method: MSTL (multiple seasonal-trend decomposition by Loess, Bandara, Hyndman and Bergmeir
 * 2021) with weekly and yearly seasonal periods, the remainder and trend forecast by AutoETS
 * (the ETS model chosen by AICc), from Grafana's augurs library (Rust, compiled to WebAssembly,
 * `@bsull/augurs`). Why this rather than a single Holt-Winters: Holt-Winters carries one seasonal
 * period, and a permit counter has two (the working week and the construction season); MSTL
 * takes both and AutoETS picks the trend form from the data instead of us. It is fitted on
 * log(1 + y) by default: on the dense Chicago licence history (about 30 a working day, 1-3 on a
 * weekend) the counts fitted as they are forecast the weekends several times too high, and the
 * rolling-origin backtest lost to seasonal naive; on the log scale it wins (figures in
 * test/fixtures/history/README.md). On the sparse SF subset it costs a few points (35.2 % to
 * 39.8 % MAPE on the pinned window), still well ahead of the baseline's 59.7 %.
 *
 * Events (`--events file.yaml`) are days the seasonal pattern cannot know: holidays and
 * deadlines. Past occurrences are taken out of the fit (imputed) so they do not bend the
 * seasonality; future ones scale the forecast by their effect, given or measured on the past
 * occurrences against the same weekdays around them.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { DateTime } from 'luxon';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { initSync, MSTL } from '@bsull/augurs/mstl';
import { PermitflowError } from '../../lib/errors.ts';

let wasmReady = false;
function ensureWasm(): void {
  if (wasmReady) return;
  // The package's own loader fetches the .wasm by URL, which Node cannot; hand it the bytes.
  const path = createRequire(import.meta.url).resolve('@bsull/augurs/mstl').replace(/mstl\.js$/, 'mstl_bg.wasm');
  initSync({ module: readFileSync(path) });
  wasmReady = true;
}

export const DEFAULT_LEVEL = 0.9;

export interface DailyForecast {
  method: string;
  /** ISO dates of the forecast days. */
  days: string[];
  point: number[];
  lower: number[];
  upper: number[];
  /** Coverage the band is meant to have (0.9 = 90 %). */
  level: number;
}

// ---------------------------------------------------------------------------------------------
// Events

const isoDate = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, { message: 'expected an ISO date (2026-07-01)' });
const eventsSchema = z
  .object({
    events: z.array(
      z
        .object({
          name: z.string().min(1),
          /** Days the event falls on (past and future occurrences). */
          dates: z.array(isoDate).min(1),
          /** Multiplier of that day's arrivals (0.1 = office closed, 3 = deadline rush). Measured on past occurrences when absent. */
          effect: z.number().min(0).max(100).optional(),
        })
        .strict(),
    ),
  })
  .strict();
export type EventSpec = z.infer<typeof eventsSchema>['events'][number];

export function parseEvents(text: string, file: string): EventSpec[] {
  const doc = parseDocument(text, { prettyErrors: true });
  if (doc.errors.length > 0) throw PermitflowError.permanent('PF_PLAN_EVENTS_INVALID', `${file}: ${doc.errors[0]!.message.split('\n')[0]}`);
  const parsed = eventsSchema.safeParse(doc.toJS());
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '<root>'}: ${i.message}`);
    throw PermitflowError.permanent('PF_PLAN_EVENTS_INVALID', `${file}: invalid events file:\n  ${problems.join('\n  ')}`, { context: { file, problems } });
  }
  return parsed.data.events;
}

export function loadEvents(file: string): EventSpec[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw PermitflowError.permanent('PF_PLAN_EVENTS_INVALID', `${file}: cannot read the events file (${(err as Error).message})`, { cause: err });
  }
  return parseEvents(text, file);
}

/**
 * Effect of each event: the given one, else the mean ratio of its past days' arrivals to the
 * mean of the same weekday one and two weeks either side (1 when it has no past occurrence).
 */
export function eventEffects(events: EventSpec[], days: string[], daily: number[]): Map<string, { name: string; effect: number }> {
  const index = new Map(days.map((d, i) => [d, i]));
  const out = new Map<string, { name: string; effect: number }>();
  for (const event of events) {
    let effect = event.effect;
    if (effect === undefined) {
      const ratios: number[] = [];
      for (const date of event.dates) {
        const i = index.get(date);
        if (i === undefined) continue;
        const around = [-14, -7, 7, 14].map((k) => daily[i + k]).filter((v): v is number => v !== undefined);
        const base = around.reduce((a, b) => a + b, 0) / Math.max(1, around.length);
        if (base > 0) ratios.push(daily[i]! / base);
      }
      effect = ratios.length > 0 ? ratios.reduce((a, b) => a + b, 0) / ratios.length : 1;
    }
    for (const date of event.dates) out.set(date, { name: event.name, effect });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Forecasts

function seasonalPeriods(length: number): number[] {
  // STL needs two full cycles of a period to estimate it.
  const periods = [7, 365].filter((p) => length >= 2 * p + 1);
  if (periods.length === 0) throw PermitflowError.permanent('PF_PLAN_SHORT_HISTORY', `a forecast needs at least 15 days of history (got ${length})`);
  return periods;
}

function followingDays(lastDay: string, horizon: number): string[] {
  const start = DateTime.fromISO(lastDay, { zone: 'UTC' });
  return Array.from({ length: horizon }, (_, i) => start.plus({ days: i + 1 }).toISODate()!);
}

/**
 * The scale the model is fitted on. `log1p` is log(1 + y) (Box-Cox with lambda 0, shifted for the
 * days with no arrival): a counter's weekly swing is multiplicative (a Saturday is a fraction of a
 * Monday, whatever the season), which an additive decomposition fits only on the log scale, and
 * quiet days are not forecast negative. `none` fits the counts as they are.
 */
export type ForecastTransform = 'log1p' | 'none';
export const DEFAULT_TRANSFORM: ForecastTransform = 'log1p';

type Fit = { point: number[]; lower: number[]; upper: number[] };
/**
 * Fits already made on a prefix of the same series, keyed by its length and horizon. A backtest
 * forecasts week after week from growing prefixes, and each forecast's band is calibrated on the
 * eight prefixes before it: seven of those eight fits were made for the week before.
 */
export type FitCache = Map<string, Fit>;

export interface ForecastOptions {
  level?: number;
  events?: EventSpec[];
  transform?: ForecastTransform;
  /** Only for forecasts from prefixes of one series (a backtest). */
  cache?: FitCache;
}

function fitAndPredict(y: number[], horizon: number, level: number, transform: ForecastTransform, cache?: FitCache): Fit {
  const key = `${y.length}:${horizon}:${level}:${transform}`;
  const cached = cache?.get(key);
  if (cached) return cached;
  const model = MSTL.ets(seasonalPeriods(y.length));
  const back = transform === 'log1p' ? (v: number) => Math.expm1(v) : (v: number) => v;
  try {
    model.fit(transform === 'log1p' ? y.map((v) => Math.log1p(Math.max(0, v))) : y);
    const f = model.predict(horizon, level);
    const fit = { point: f.point.map(back), lower: (f.intervals?.lower ?? f.point).map(back), upper: (f.intervals?.upper ?? f.point).map(back) };
    cache?.set(key, fit);
    return fit;
  } finally {
    model.free();
  }
}

/** Weeks of one-week-ahead forecasts whose errors calibrate the band. */
const CALIBRATION_WEEKS = 8;

/**
 * MSTL + AutoETS forecast of the `horizon` days after `days`.
 *
 * The band: augurs' interval is the trend model's alone and leaves out the seasonal terms' own
 * error (it covered about 60 % of held-out SF days at 90 %), and in-sample errors are smaller
 * than real ones. So the band is split-conformal: the empirical quantiles of the method's own
 * one-week-ahead errors over the last eight weeks (each forecast from the days before it), and
 * never narrower than augurs' interval.
 */
export function forecastDaily(days: string[], daily: number[], horizon: number, options: ForecastOptions = {}): DailyForecast {
  ensureWasm();
  const level = options.level ?? DEFAULT_LEVEL;
  const transform = options.transform ?? DEFAULT_TRANSFORM;
  const effects = eventEffects(options.events ?? [], days, daily);
  // Past event days are replaced by the same weekday a week earlier (or later), so a closed
  // holiday does not read as a collapse of the trend nor a deadline as a new season.
  const y = daily.map((v, i) => {
    if (!effects.has(days[i]!)) return v;
    return daily[i - 7] ?? daily[i + 7] ?? v;
  });
  const errors: number[] = [];
  for (let k = CALIBRATION_WEEKS; k >= 1; k--) {
    const cut = y.length - 7 * k;
    if (cut < 15) continue;
    const past = fitAndPredict(y.slice(0, cut), 7, level, transform, options.cache);
    y.slice(cut, cut + 7).forEach((v, i) => errors.push(v - past.point[i]!));
  }
  errors.sort((a, b) => a - b);
  const lo = quantile(errors, (1 - level) / 2);
  const hi = quantile(errors, 1 - (1 - level) / 2);
  const f = fitAndPredict(y, horizon, level, transform, options.cache);
  const out = followingDays(days.at(-1)!, horizon);
  const effect = out.map((d) => effects.get(d)?.effect ?? 1);
  const point = f.point.map((v, i) => Math.max(0, v) * effect[i]!);
  const lower = f.point.map((v, i) => Math.max(0, Math.min(f.lower[i]!, v + lo)) * effect[i]!);
  const upper = f.point.map((v, i) => Math.max(0, Math.max(f.upper[i]!, v + hi)) * effect[i]!);
  return { method: methodName(transform), days: out, point, lower, upper, level };
}

export function methodName(transform: ForecastTransform = DEFAULT_TRANSFORM): string {
  return `MSTL(7, 365) + AutoETS (augurs)${transform === 'log1p' ? ' on log(1 + y)' : ''}`;
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.round(q * (sorted.length - 1))))] ?? 0;
}

/**
 * The baseline: each day is the same weekday of the last week; the band comes from the
 * empirical quantiles of the history's week-on-week changes.
 */
export function seasonalNaive(days: string[], daily: number[], horizon: number, level = DEFAULT_LEVEL): DailyForecast {
  const diffs = daily.slice(7).map((v, i) => v - daily[i]!).sort((a, b) => a - b);
  const lo = quantile(diffs, (1 - level) / 2);
  const hi = quantile(diffs, 1 - (1 - level) / 2);
  const point = Array.from({ length: horizon }, (_, i) => daily[daily.length - 7 + (i % 7)]!);
  return {
    method: 'seasonal naive (same weekday last week)',
    days: followingDays(days.at(-1)!, horizon),
    point,
    lower: point.map((v) => Math.max(0, v + lo)),
    upper: point.map((v) => Math.max(0, v + hi)),
    level,
  };
}

/**
 * The baseline given the method's calendar, the same way: past event days replaced by the same
 * weekday a week earlier, future ones scaled by their effect. It keeps the comparison fair when
 * `--events` is given: a holiday the method knows of is not a win of the method alone.
 */
export function seasonalNaiveWithEvents(days: string[], daily: number[], horizon: number, events: EventSpec[], level = DEFAULT_LEVEL): DailyForecast {
  const effects = eventEffects(events, days, daily);
  const y = daily.map((v, i) => (effects.has(days[i]!) ? (daily[i - 7] ?? daily[i + 7] ?? v) : v));
  const f = seasonalNaive(days, y, horizon, level);
  const effect = f.days.map((d) => effects.get(d)?.effect ?? 1);
  return {
    ...f,
    method: 'seasonal naive with the same events',
    point: f.point.map((v, i) => v * effect[i]!),
    lower: f.lower.map((v, i) => v * effect[i]!),
    upper: f.upper.map((v, i) => v * effect[i]!),
  };
}

// ---------------------------------------------------------------------------------------------
// Backtest

export interface Accuracy {
  /** Mean absolute percentage error over the held-out days that had arrivals (%). */
  mape: number;
  /** Share of held-out days inside the prediction band (%). */
  coverage: number;
}

export interface BacktestWeek {
  start: string;
  actual: number;
  method: Accuracy & { total: number };
  naive: Accuracy & { total: number };
}

export interface Backtest {
  weeks: BacktestWeek[];
  method: Accuracy;
  naive: Accuracy;
  /** Seasonal naive given the same events (null without `--events`). */
  naiveWithEvents: Accuracy | null;
  level: number;
  methodName: string;
  naiveName: string;
}

function accuracy(actual: number[], f: DailyForecast): Accuracy & { sumApe: number; counted: number; inside: number } {
  let sumApe = 0;
  let counted = 0;
  let inside = 0;
  actual.forEach((a, i) => {
    // Days with no arrival (the office's weekends) have no percentage error; they still count for coverage.
    if (a > 0) {
      sumApe += Math.abs(a - f.point[i]!) / a;
      counted++;
    }
    if (a >= f.lower[i]! - 1e-9 && a <= f.upper[i]! + 1e-9) inside++;
  });
  return { mape: counted ? (100 * sumApe) / counted : 0, coverage: (100 * inside) / actual.length, sumApe, counted, inside };
}

/**
 * Rolling-origin backtest: each of the last `weeks` weeks of the history is forecast from the
 * days before it alone, by the method and by the seasonal-naive baseline.
 */
export interface BacktestOptions {
  weeks?: number;
  level?: number;
  events?: EventSpec[];
  transform?: ForecastTransform;
  cache?: FitCache;
}

export function backtest(days: string[], daily: number[], options: BacktestOptions = {}): Backtest {
  const weeks = options.weeks ?? 4;
  const level = options.level ?? DEFAULT_LEVEL;
  const cache: FitCache = options.cache ?? new Map<string, Fit>();
  const rows: BacktestWeek[] = [];
  const totals = { method: { sumApe: 0, counted: 0, inside: 0 }, naive: { sumApe: 0, counted: 0, inside: 0 }, naiveWithEvents: { sumApe: 0, counted: 0, inside: 0 } };
  let methodName = '';
  let naiveName = '';
  // Held-out weeks run Monday to Sunday, the office's week, ending on the history's last Sunday.
  let end = days.length;
  while (end > 0 && DateTime.fromISO(days[end - 1]!).weekday !== 7) end--;
  if (end - 7 * weeks < 15) throw PermitflowError.permanent('PF_PLAN_SHORT_HISTORY', `a ${weeks}-week backtest needs more history (got ${days.length} days)`);
  for (let k = weeks; k >= 1; k--) {
    const cut = end - 7 * k;
    const trainDays = days.slice(0, cut);
    const train = daily.slice(0, cut);
    const actual = daily.slice(cut, cut + 7);
    const method = forecastDaily(trainDays, train, 7, {
      level,
      cache,
      ...(options.events && { events: options.events }),
      ...(options.transform && { transform: options.transform }),
    });
    const naive = seasonalNaive(trainDays, train, 7, level);
    methodName = method.method;
    naiveName = naive.method;
    const m = accuracy(actual, method);
    const n = accuracy(actual, naive);
    const pairs = [[totals.method, m], [totals.naive, n]];
    if (options.events) pairs.push([totals.naiveWithEvents, accuracy(actual, seasonalNaiveWithEvents(trainDays, train, 7, options.events, level))]);
    for (const [t, a] of pairs as [typeof m, typeof m][]) {
      t.sumApe += a.sumApe;
      t.counted += a.counted;
      t.inside += a.inside;
    }
    const sum = (xs: number[]) => Math.round(xs.reduce((a, b) => a + b, 0));
    rows.push({
      start: days[cut]!,
      actual: sum(actual),
      method: { mape: m.mape, coverage: m.coverage, total: sum(method.point) },
      naive: { mape: n.mape, coverage: n.coverage, total: sum(naive.point) },
    });
  }
  const summary = (t: { sumApe: number; counted: number; inside: number }): Accuracy => ({
    mape: t.counted ? (100 * t.sumApe) / t.counted : 0,
    coverage: (100 * t.inside) / (7 * weeks),
  });
  return {
    weeks: rows,
    method: summary(totals.method),
    naive: summary(totals.naive),
    naiveWithEvents: options.events ? summary(totals.naiveWithEvents) : null,
    level,
    methodName,
    naiveName,
  };
}

export interface RollingWindow {
  /** Last held-out day of the window (a Sunday). */
  end: string;
  method: Accuracy;
  naive: Accuracy;
  naiveWithEvents: Accuracy | null;
}

export interface RollingBacktest {
  windows: RollingWindow[];
  /** Windows where the method's MAPE is below the baseline's. */
  wins: number;
  /** Windows where it is below the calendar-aware baseline's (null without events). */
  winsWithEvents: number | null;
  /** Means over the windows. */
  method: Accuracy;
  naive: Accuracy;
  naiveWithEvents: Accuracy | null;
  weeks: number;
}

/**
 * Rolling origin: the `weeks`-week backtest repeated with the history cut `weeks` weeks earlier
 * each time, `cutoffs` times, so a claim rests on a year of windows rather than one. The windows
 * do not overlap; together they cover the last `cutoffs x weeks` weeks of the history.
 */
export function rollingBacktest(days: string[], daily: number[], options: BacktestOptions & { cutoffs?: number } = {}): RollingBacktest {
  const cutoffs = options.cutoffs ?? 12;
  const weeks = options.weeks ?? 4;
  let end = days.length;
  while (end > 0 && DateTime.fromISO(days[end - 1]!).weekday !== 7) end--;
  const cache: FitCache = options.cache ?? new Map<string, Fit>();
  const windows: RollingWindow[] = [];
  for (let c = cutoffs - 1; c >= 0; c--) {
    const cut = end - 7 * weeks * c;
    const b = backtest(days.slice(0, cut), daily.slice(0, cut), { ...options, weeks, cache });
    windows.push({ end: days[cut - 1]!, method: b.method, naive: b.naive, naiveWithEvents: b.naiveWithEvents });
  }
  const mean = (pick: (w: RollingWindow) => Accuracy): Accuracy => ({
    mape: windows.reduce((a, w) => a + pick(w).mape, 0) / windows.length,
    coverage: windows.reduce((a, w) => a + pick(w).coverage, 0) / windows.length,
  });
  const withEvents = options.events !== undefined;
  return {
    windows,
    wins: windows.filter((w) => w.method.mape < w.naive.mape).length,
    winsWithEvents: withEvents ? windows.filter((w) => w.method.mape < w.naiveWithEvents!.mape).length : null,
    method: mean((w) => w.method),
    naive: mean((w) => w.naive),
    naiveWithEvents: withEvents ? mean((w) => w.naiveWithEvents!) : null,
    weeks,
  };
}
