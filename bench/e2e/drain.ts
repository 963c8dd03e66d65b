/**
 * Drain: N distinct applications produced onto the raw topic with every stage stopped, then the
 * stages started (one `run all` process, or one process per stage) and timed from the first
 * `received` to the N-th decision in the read model, both taken from the read model's event
 * times. CPU per process is counted from the first `received` seen to the last decision (group
 * joins and restores before the first record are left out), peak RSS over the whole run.
 */
import { mkdirSync } from 'node:fs';
import { loadavg } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseSamples } from '../../lib/observability/prometheus-text.ts';
import { stackPaths } from '../../ops/stack/service.ts';
import { freePort } from '../../test/support/ports.ts';
import { createNamespace } from './namespace.ts';
import { spawnStage, stackCpuSeconds, stopStages, watchExits, type StageProcess } from './processes.ts';
import { monotonicUs, topSelfTime, type ProfileSummary } from './profile.ts';
import { produceApplications } from './workload.ts';

export const STAGES = ['windower', 'enricher', 'validator', 'decider', 'read-model'] as const;
export type Layout = 'all' | 'stages';

export interface ProcessFigures {
  name: string;
  cpuSeconds: number;
  cpuSecondsPer1000: number;
  peakRssMb: number;
  /** Records consumed per committed transaction: how large the batches the stage got were. */
  recordsPerTransaction: number;
  /** Where its CPU went from the first received to the last decision (with --profile). */
  profile?: ProfileSummary;
}

export interface StateSpan {
  state: string;
  records: number;
  /** Seconds from the drain's first `received` to this state's first and last record. */
  firstAt: number;
  lastAt: number;
}

export interface DrainResult {
  layout: Layout;
  rows: number;
  decided: number;
  deadLettered: number;
  seconds: number;
  decisionsPerSecond: number;
  /** Records the stages produced to topics of the catalogue (state topics, batches, retries, DLQ), per submission. */
  recordsOutPerSubmission: number;
  spans: StateSpan[];
  processes: ProcessFigures[];
  stackCpuSecondsPer1000: Record<string, number>;
  loadAverage: number;
}

export interface DrainOptions {
  rows: number;
  layout: Layout;
  profileDir?: string;
  timeoutMs?: number;
}

export async function drain(options: DrainOptions): Promise<DrainResult> {
  const { rows, layout } = options;
  const ns = await createNamespace({ WINDOW_MAX_AGE_MS: '2000' });
  const stages: StageProcess[] = [];
  try {
    await produceApplications(ns.config, ns.topology, rows);
    if (options.profileDir) mkdirSync(options.profileDir, { recursive: true });
    for (const name of layout === 'all' ? ['all'] : STAGES) {
      stages.push(spawnStage(name, { env: ns.env, metricsPort: await freePort(), ...(options.profileDir && { profileDir: options.profileDir }) }));
    }
    const exits = watchExits(stages);
    const paths = stackPaths(ns.config);
    const deadline = Date.now() + (options.timeoutMs ?? Math.max(300_000, rows * 20));
    let cpuAtFirst: number[] | undefined;
    let fromUs = 0;
    let stackAtFirst: Record<string, number> = {};
    let counts = { received: 0, decided: 0, dead: 0 };
    for (;;) {
      exits.check();
      counts = await progress(ns.pool);
      if (!cpuAtFirst && counts.received > 0) {
        fromUs = monotonicUs();
        cpuAtFirst = stages.map((s) => s.cpuSeconds());
        stackAtFirst = stackCpuSeconds(paths);
      }
      if (counts.decided + counts.dead >= rows) break;
      if (Date.now() > deadline) throw new Error(`drain (${layout}) timed out: ${JSON.stringify(counts)} of ${rows}`);
      for (const s of stages) s.peakRssMb();
      await sleep(250);
    }
    const toUs = monotonicUs();
    const cpuAtEnd = stages.map((s) => s.cpuSeconds());
    const stackAtEnd = stackCpuSeconds(paths);
    const recordsOut = (await Promise.all(stages.map((s) => scrapeSum(s.metricsPort, 'permitflow_records_out_total')))).reduce((a, b) => a + b, 0);
    const recordsIn = await Promise.all(stages.map((s) => scrapeSum(s.metricsPort, 'permitflow_records_in_total')));
    const committed = await Promise.all(stages.map((s) => scrapeSum(s.metricsPort, 'permitflow_transactions_total', { outcome: 'commit' })));
    // The read model applies each state topic on its own: intermediate states may trail the
    // decisions. Their record times are what the spans read, so wait (bounded) until all are in.
    let spans = await stateSpans(ns.pool);
    for (let until = Date.now() + 60_000; spans.some((s) => s.state !== 'accepted' && s.state !== 'rejected' && s.records < rows) && Date.now() < until; ) {
      await sleep(500);
      spans = await stateSpans(ns.pool);
    }
    const seconds = Math.max(...spans.filter((s) => s.state === 'accepted' || s.state === 'rejected').map((s) => s.lastAt));
    const processes = stages.map((s, i) => {
      const cpu = cpuAtEnd[i]! - (cpuAtFirst?.[i] ?? 0);
      const recordsPerTransaction = committed[i]! > 0 ? round(recordsIn[i]! / committed[i]!, 1) : 0;
      return { name: s.name, cpuSeconds: round(cpu, 2), cpuSecondsPer1000: round((cpu / rows) * 1000, 3), peakRssMb: Math.round(s.peakRssMb()), recordsPerTransaction };
    });
    const loadAverage = round(loadavg()[0]!, 2);
    await stopStages(stages);
    if (options.profileDir) {
      for (const p of processes as ProcessFigures[]) p.profile = topSelfTime(`${options.profileDir}/${p.name}.cpuprofile`, 15, { fromUs, toUs });
    }
    return {
      layout,
      rows,
      decided: counts.decided,
      deadLettered: counts.dead,
      seconds: round(seconds, 2),
      decisionsPerSecond: Math.round(counts.decided / seconds),
      recordsOutPerSubmission: round(recordsOut / rows, 2),
      spans,
      processes,
      stackCpuSecondsPer1000: Object.fromEntries(Object.entries(stackAtEnd).map(([k, v]) => [k, round(((v - (stackAtFirst[k] ?? 0)) / rows) * 1000, 3)])),
      loadAverage,
    };
  } finally {
    await stopStages(stages, 10_000);
    await ns.cleanup();
  }
}

async function progress(pool: import('pg').Pool): Promise<{ received: number; decided: number; dead: number }> {
  const { rows } = await pool.query<{ received: string; decided: string; dead: string }>(
    `SELECT count(*) AS received,
            count(*) FILTER (WHERE status IN ('accepted', 'rejected')) AS decided,
            count(*) FILTER (WHERE status = 'dead_lettered') AS dead
       FROM submissions`,
  );
  return { received: Number(rows[0]!.received), decided: Number(rows[0]!.decided), dead: Number(rows[0]!.dead) };
}

async function stateSpans(pool: import('pg').Pool): Promise<StateSpan[]> {
  const { rows } = await pool.query<{ state: string; records: string; first_s: number; last_s: number }>(
    `WITH origin AS (SELECT min(at) AS t FROM submission_events WHERE state = 'received')
     SELECT state, count(*) AS records,
            extract(epoch FROM min(at) - (SELECT t FROM origin))::float8 AS first_s,
            extract(epoch FROM max(at) - (SELECT t FROM origin))::float8 AS last_s
       FROM submission_events GROUP BY state
      ORDER BY min(at)`,
  );
  return rows.map((r) => ({ state: r.state, records: Number(r.records), firstAt: round(r.first_s, 2), lastAt: round(r.last_s, 2) }));
}

/** The sum of a metric's samples, of those carrying every given label value. */
export async function scrapeSum(port: number, metric: string, labels: Record<string, string> = {}): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(5000) });
  const matches = (s: { labels: Record<string, string> }) => Object.entries(labels).every(([k, v]) => s.labels[k] === v);
  return parseSamples(await res.text(), metric).filter(matches).reduce((sum, s) => sum + s.value, 0);
}

export const round = (n: number, digits: number): number => Number(n.toFixed(digits));
