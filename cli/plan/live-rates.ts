/**
 * Service rates from live metrics: `permitflow plan --metrics <url,...>` scrapes the `/metrics`
 * endpoint of running stage processes and measures each stage's records per busy second there,
 * the same utilisation law bench/e2e's rates use (X = U x mu), on production traffic instead of
 * the benchmark's.
 *
 * Per process: busy seconds are `process_cpu_seconds_total`; records are the runtime's
 * `permitflow_records_in_total` per processor (the read-model sink's
 * `permitflow_read_model_records_total`). A process running several stages (`run all`) shares its
 * CPU among them in proportion to the time each spent handling records
 * (`permitflow_record_duration_seconds_sum`, the read model's transaction seconds): wall time,
 * so a stage waiting on a lookup API is charged for its wait. Several processes of one stage
 * (instances) add their records and their busy seconds. Totals are since each process started.
 */
import { PermitflowError } from '../../lib/errors.ts';
import { parseSamples } from '../../lib/observability/prometheus-text.ts';
import { scrapeText } from '../status/metrics.ts';
import { STAGES, type ServiceRates, type Stage } from './capacity.ts';

export interface ProcessLoad {
  url: string;
  cpuSeconds: number;
  /** Per stage found in the process: records handled and the seconds spent handling them. */
  stages: Partial<Record<Stage, { records: number; handlingSeconds: number }>>;
}

export function processLoad(url: string, text: string): ProcessLoad {
  /** A metric's samples added up by `key` (a label, or one key for all). */
  const sum = (name: string, key: (labels: Record<string, string>) => string | undefined) => {
    const out = new Map<string, number>();
    for (const s of parseSamples(text, name)) {
      const k = key(s.labels);
      if (k !== undefined) out.set(k, (out.get(k) ?? 0) + s.value);
    }
    return out;
  };
  const cpu = parseSamples(text, 'process_cpu_seconds_total')[0];
  if (!cpu) throw PermitflowError.permanent('PF_PLAN_OPTION', `--metrics ${url}: no process_cpu_seconds_total: not a permitflow process's /metrics`);
  const records = sum('permitflow_records_in_total', (l) => l.processor);
  const handling = sum('permitflow_record_duration_seconds_sum', (l) => l.processor);
  const readModelRecords = sum('permitflow_read_model_records_total', () => 'read-model').get('read-model');
  const readModelSeconds = sum('permitflow_read_model_transaction_seconds_sum', () => 'read-model').get('read-model');
  const stages: ProcessLoad['stages'] = {};
  for (const stage of STAGES) {
    const n = stage === 'read-model' ? readModelRecords : records.get(stage);
    const seconds = stage === 'read-model' ? readModelSeconds : handling.get(stage);
    // A stage that handled nothing yet has no rate to tell.
    if (n && n > 0 && seconds !== undefined) stages[stage] = { records: n, handlingSeconds: seconds };
  }
  return { url, cpuSeconds: cpu.value, stages };
}

/**
 * Records per busy second of one instance of each stage seen in `loads`; stages none of them
 * runs are absent (the caller keeps the benchmark's rate for those, and says so).
 */
export function liveRates(loads: ProcessLoad[]): Partial<Record<Stage, number>> {
  const totals = new Map<Stage, { records: number; busySeconds: number }>();
  for (const load of loads) {
    const entries = Object.entries(load.stages) as [Stage, { records: number; handlingSeconds: number }][];
    const handling = entries.reduce((a, [, s]) => a + s.handlingSeconds, 0);
    for (const [stage, s] of entries) {
      // One stage in the process: all its CPU; several: shared by handling time.
      const share = entries.length === 1 || handling === 0 ? 1 / entries.length : s.handlingSeconds / handling;
      const t = totals.get(stage) ?? { records: 0, busySeconds: 0 };
      t.records += s.records;
      t.busySeconds += load.cpuSeconds * share;
      totals.set(stage, t);
    }
  }
  const out: Partial<Record<Stage, number>> = {};
  for (const [stage, t] of totals) if (t.busySeconds > 0) out[stage] = t.records / t.busySeconds;
  return out;
}

/** Scrapes each endpoint once (a `/metrics` URL, or a base URL it is appended to). */
export async function scrapeLoads(urls: string[], timeoutMs = 5_000): Promise<ProcessLoad[]> {
  return Promise.all(
    urls.map(async (given) => {
      const url = /\/metrics\/?$/.test(given) ? given : `${given.replace(/\/$/, '')}/metrics`;
      const scraped = await scrapeText(url, timeoutMs);
      if (!scraped.ok) throw PermitflowError.permanent('PF_PLAN_OPTION', `--metrics ${url}: cannot scrape (${scraped.error})`);
      return processLoad(url, scraped.text);
    }),
  );
}

/** The benchmark's rates with every stage the live processes measured replaced by its live rate. */
export function withLiveRates(bench: ServiceRates, live: Partial<Record<Stage, number>>, urls: string[]): ServiceRates {
  const measured = STAGES.filter((s) => live[s] !== undefined);
  if (measured.length === 0) return bench;
  const perInstance = { ...bench.perInstance };
  for (const s of measured) perInstance[s] = live[s]!;
  const rest = STAGES.filter((s) => live[s] === undefined);
  return {
    ...bench,
    perInstance,
    live: true,
    source: `live metrics (${urls.join(', ')}) for ${measured.join(', ')}${rest.length > 0 ? `; ${bench.source} for ${rest.join(', ')}` : ''}`,
  };
}
