/**
 * `permitflow plan`: forecasts the next eight weeks of arrivals from history (an export's filed
 * dates through its mapping, or the read model), backtests the forecast, and says what to run
 * for the peak: instances per stage, partitions, windows, intake lag thresholds and rate limits,
 * from the service rates `bench/e2e` measured. Prints the recommendation and writes the report
 * (HTML, SVG per chart, plan.json, and a PNG when Debian's Chromium is installed).
 */
import { join, relative } from 'node:path';
import { Command, Option } from 'commander';
import { PermitflowError } from '../../lib/errors.ts';
import { printableJson, printableLines } from '../printable.ts';
import type { ForecastTransform } from '../plan/forecast.ts';

interface PlanOptions {
  history?: string;
  mapping?: string;
  since?: string;
  until?: string;
  zone: string;
  events?: string;
  p99: string;
  maxLag: string;
  bench?: string;
  metrics?: string;
  scale: string;
  lookupCacheHit: string;
  level: string;
  transform: string;
  rolling: string;
  out?: string;
  png: boolean;
  chromium?: string;
  json?: boolean;
}

/** `90s`, `5m`, `1h` or plain seconds, to seconds. */
export function parseDuration(text: string, what: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!m) throw PermitflowError.permanent('PF_PLAN_OPTION', `${what}: expected a duration such as 90s, 5m or 1h (got ${text})`);
  const n = Number(m[1]);
  const seconds = { ms: n / 1000, s: n, m: n * 60, h: n * 3600 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
  if (seconds <= 0) throw PermitflowError.permanent('PF_PLAN_OPTION', `${what}: must be more than zero`);
  return seconds;
}

function parseFraction(text: string, what: string, { min, max }: { min: number; max: number }): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n < min || n > max) throw PermitflowError.permanent('PF_PLAN_OPTION', `${what}: expected a number from ${min} to ${max} (got ${text})`);
  return n;
}

const isoDate = (text: string | undefined, what: string): string | undefined => {
  if (text !== undefined && !/^\d{4}-\d{2}-\d{2}$/.test(text)) throw PermitflowError.permanent('PF_PLAN_OPTION', `${what}: expected an ISO date such as 2018-06-30 (got ${text})`);
  return text;
};

export function planCommand(): Command {
  return new Command('plan')
    .description('Forecast the next surge from history (an export or the read model) and say what to run for it; writes an HTML/SVG/PNG report')
    .option('--history <export>', 'a legacy export (CSV or JSON Lines) whose filed dates are the history; default: the read model')
    .option('--mapping <mapping>', 'mapping of the export (file, or the name of one in connectors/file-drop/mappings/): its appliedAt rule reads the filed date')
    .option('--since <date>', 'first day of history to use (ISO date)')
    .option('--until <date>', 'last day of history to use (ISO date); the forecast starts the day after')
    .addOption(new Option('--zone <zone>', 'time zone of the office, for read-model history (an export uses its mapping\'s zone)').default('UTC'))
    .option('--events <file.yaml>', 'holidays and deadlines: events: [{ name, dates: [ISO dates], effect?: multiplier }]')
    .addOption(new Option('--p99 <duration>', 'target p99 from receipt to decision').default('5m'))
    .addOption(new Option('--max-lag <duration>', 'longest a backlog may take to drain').default('10m'))
    .option('--bench <file>', 'bench/e2e results JSON with the measured service rates (default: the newest complete one in bench/results, else the committed bench/e2e/reference run)')
    .option('--metrics <urls>', 'comma-separated /metrics endpoints of running stage processes: their measured records per busy second replace the benchmark\'s rates for the stages they run')
    .addOption(new Option('--scale <factor>', 'plan for this multiple of the forecast (a fee change, an ordinance deadline)').default('1'))
    .addOption(new Option('--lookup-cache-hit <fraction>', 'share of lookups answered from cache (0 = every site new)').default('0'))
    .addOption(new Option('--level <fraction>', 'coverage of the prediction band').default('0.9'))
    .addOption(new Option('--transform <name>', 'scale the forecast model is fitted on: log1p (log(1 + y)) or none').choices(['log1p', 'none']).default('log1p'))
    .addOption(new Option('--rolling <cutoffs>', 'also backtest at this many earlier cutoffs, four weeks apart (rolling origin; 0 = the last four weeks only)').default('0'))
    .option('--out <dir>', 'report folder (default: <PERMITFLOW_STACK_DIR>/plan, which `status --json` reads)')
    .option('--no-png', 'skip the PNG (which needs Debian\'s chromium)')
    .option('--chromium <path>', 'Chromium binary for the PNG (default: Debian\'s /usr/bin/chromium)')
    .option('--json', 'print the plan as JSON instead of the summary')
    .action(async (options: PlanOptions) => {
      const target = { p99Seconds: parseDuration(options.p99, '--p99'), maxLagSeconds: parseDuration(options.maxLag, '--max-lag') };
      const scale = parseFraction(options.scale, '--scale', { min: 0.01, max: 10_000 });
      const lookupCacheHitRate = parseFraction(options.lookupCacheHit, '--lookup-cache-hit', { min: 0, max: 0.999 });
      const level = parseFraction(options.level, '--level', { min: 0.5, max: 0.99 });
      const rolling = parseFraction(options.rolling, '--rolling', { min: 0, max: 52 });
      if (!Number.isInteger(rolling)) throw PermitflowError.permanent('PF_PLAN_OPTION', `--rolling: expected a whole number of cutoffs (got ${options.rolling})`);
      const window = { since: isoDate(options.since, '--since'), until: isoDate(options.until, '--until') };
      if (options.history !== undefined && options.mapping === undefined) throw PermitflowError.permanent('PF_PLAN_OPTION', '--history needs --mapping: the mapping says which column holds the filed date and how to read it');

      const [{ loadConfig, REPO_ROOT }, history, forecast, capacity, plan, report, screenshot] = await Promise.all([
        import('../../lib/config.ts'),
        import('../plan/history.ts'),
        import('../plan/forecast.ts'),
        import('../plan/capacity.ts'),
        import('../plan/plan.ts'),
        import('../plan/report.ts'),
        import('../plan/screenshot.ts'),
      ]);
      const config = loadConfig();
      const dropUndefined = { ...(window.since && { since: window.since }), ...(window.until && { until: window.until }) };
      let arrivals;
      if (options.history !== undefined) {
        const { resolveMapping } = await import('../../connectors/file-drop/deps.ts');
        arrivals = await history.historyFromExport(options.history, resolveMapping(options.mapping!), dropUndefined);
      } else {
        const { createReadModelPool } = await import('../../connectors/read-model/pool.ts');
        const pool = createReadModelPool(config, { applicationName: 'permitflow-plan', max: 1 });
        try {
          arrivals = await history.historyFromReadModel(pool, config.readModel.schema, options.zone, dropUndefined);
        } finally {
          await pool.end();
        }
      }
      if (scale !== 1) {
        arrivals = { ...arrivals, daily: arrivals.daily.map((v) => v * scale), peakHourly: arrivals.peakHourly.map((v) => v * scale), byHour: arrivals.byHour.map((v) => v * scale) };
      }
      const benchFile = options.bench ?? capacity.latestBenchFile(join(REPO_ROOT, 'bench/results')) ?? join(REPO_ROOT, capacity.REFERENCE_BENCH);
      const bench = capacity.loadBench(benchFile);
      let rates = capacity.serviceRates(bench, relative(REPO_ROOT, benchFile));
      if (options.metrics !== undefined) {
        const urls = options.metrics.split(',').map((u) => u.trim()).filter((u) => u !== '');
        if (urls.length === 0) throw PermitflowError.permanent('PF_PLAN_OPTION', '--metrics: expected one or more /metrics URLs, comma-separated');
        const live = await import('../plan/live-rates.ts');
        rates = live.withLiveRates(rates, live.liveRates(await live.scrapeLoads(urls)), urls);
      }
      const built = plan.buildPlan({
        history: arrivals,
        bench,
        rates,
        target,
        current: {
          partitions: config.topology.partitions,
          windowMaxCount: config.windower.maxCount,
          windowMaxBytes: config.windower.maxBytes,
          windowMaxAgeMs: config.windower.maxAgeMs,
          lagThreshold: config.intake.lag.threshold,
          lagHardLimit: config.intake.lag.hardLimit,
          rateLimitPerClient: config.intake.rateLimitPerSecond,
          lookupRateLimits: { ...config.lookups.rateLimits },
        },
        level,
        lookupCacheHitRate,
        transform: options.transform as ForecastTransform,
        rolling,
        ...(options.events !== undefined && { events: forecast.loadEvents(options.events) }),
      });
      if (scale !== 1) built.assumptions.push(`Every count of the history is multiplied by ${scale} (--scale).`);
      const written = report.writeReport(built, options.out ?? join(config.stack.dir, 'plan'));
      let rendered: Awaited<ReturnType<typeof screenshot.renderInChromium>> | null = null;
      if (options.png) {
        const browser = screenshot.findChromium(options.chromium);
        if (browser) rendered = await screenshot.renderInChromium(written.html, join(written.dir, 'report.png'), browser);
        else console.error('no PNG: Debian\'s chromium is not installed (`permitflow stack tools` installs it)');
      }
      const blank = rendered?.charts.filter((c) => c.marks === 0 || c.width === 0) ?? [];
      if (blank.length > 0) throw PermitflowError.permanent('PF_PLAN_CHART_BLANK', `${written.html}: Chromium drew nothing for ${blank.map((c) => c.id).join(', ')}`);
      const png = rendered?.png ?? null;
      if (options.json) {
        console.log(printableJson({ ...built, report: { ...written, png, charts: rendered?.charts ?? null } }));
        return;
      }
      const b = built.backtest;
      const lines = [
        ...report.recommendationLines(built),
        '',
        `Backtest (last ${b.weeks.length} weeks, ${Math.round(b.level * 100)} % band): ${b.methodName} MAPE ${b.method.mape.toFixed(1)} %, coverage ${b.method.coverage.toFixed(0)} %; seasonal naive MAPE ${b.naive.mape.toFixed(1)} %, coverage ${b.naive.coverage.toFixed(0)} %${b.naiveWithEvents ? `; seasonal naive with the same events MAPE ${b.naiveWithEvents.mape.toFixed(1)} %, coverage ${b.naiveWithEvents.coverage.toFixed(0)} %` : ''}.`,
        ...(built.rolling
          ? [
              `Rolling origin (${built.rolling.windows.length} windows of ${built.rolling.weeks} weeks to ${built.rolling.windows.at(-1)!.end}): the method wins ${built.rolling.wins}; mean MAPE ${built.rolling.method.mape.toFixed(1)} % against ${built.rolling.naive.mape.toFixed(1)} %, coverage ${built.rolling.method.coverage.toFixed(0)} % against ${built.rolling.naive.coverage.toFixed(0)} %${built.rolling.naiveWithEvents ? `; against seasonal naive with the same events it wins ${built.rolling.winsWithEvents}, mean MAPE ${built.rolling.naiveWithEvents.mape.toFixed(1)} %` : ''}.`,
            ]
          : []),
        ...(built.benchLayout
          ? [
              `Bench check: for the benchmark's ${built.benchLayout.rate}/s the model recommends ${Object.entries(built.benchLayout.recommended).map(([s, n]) => `${s} ${n}`).join(', ')}; the benchmark measured p99 ${built.benchLayout.measuredP99Seconds} s there with less (one run-all process): the target ${built.benchLayout.holds ? 'holds' : 'does NOT hold'}.`,
            ]
          : []),
        `Report: ${written.html}${png ? `, ${png}` : ''} (SVG: ${written.svgs.join(', ')})`,
      ];
      console.log(printableLines(lines));
    });
}
