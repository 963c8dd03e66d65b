/**
 * Read-model write benchmark on the running local PostgreSQL, both figures from one run:
 *
 *   sink   the read model's per-batch transaction (write.ts): offset row locked, events
 *          inserted idempotently, submissions upserted, batches counted, permits published
 *          when a batch completes, offset stored; one transaction per consumed Kafka batch;
 *   plain  a plain multi-row INSERT ... VALUES of the same event rows into a table of the same
 *          columns without constraints or indexes, one autocommitted statement per batch;
 *   plain, every table
 *          the same, for every row the sink leaves behind: the events, each submission's final
 *          row, the batches, their members and the permits, each into a copy of its table
 *          without constraints or indexes (what the sink writes, without its idempotence,
 *          ordering and exactly-once bookkeeping).
 *
 * Every run counts what each mode left behind, table by table (`submissions` counts the
 * view's rows: one per submission, as in the plain copy), and stops if they differ.
 *
 * All read the same pre-built rows in the same batches (no Kafka in the loop: this measures
 * PostgreSQL), one after the other in each run, each run starting with another mode. Reported
 * in state records per second of wall clock and per CPU-second (this process plus its
 * PostgreSQL backend, from /proc: on a busy machine the CPU figure is the one to compare);
 * ratios are taken within each run, whose modes shared the machine's load, then the median and
 * the lowest are given. The like-with-like ratio is the one against every table: the sink
 * writes half as many rows again as the events (submissions, batches, members, permits). The
 * plain inserts commit with the server's default (synchronous) commit, the sink asynchronously
 * (write.ts says why that keeps every record); on this machine's disk that differed by under 5%
 * for the plain insert.
 *
 * Usage: see USAGE below (what --help prints).
 * Results are printed and written to bench/results/read-model-<timestamp>.json.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import { parseBenchArgs } from '../args.ts';
import { migrate, quoteIdent } from '../../connectors/read-model/migrate.ts';
import { createReadModelPool } from '../../connectors/read-model/pool.ts';
import type { SubmissionPatch } from '../../connectors/read-model/records.ts';
import { applyBatch } from '../../connectors/read-model/write.ts';
import { loadConfig, REPO_ROOT } from '../../lib/config.ts';
import { cpuSeconds } from '../../ops/stack/proc.ts';
import { workload, type Fetch } from './workload.ts';

const USAGE = 'Usage: node --import tsx bench/read-model/index.ts [--submissions N] [--batch N] [--runs N]';

const { values: args } = parseBenchArgs('read-model', USAGE, { options: { submissions: { type: 'string', default: '5000' }, batch: { type: 'string', default: '500' }, runs: { type: 'string', default: '3' } } });
const SUBMISSIONS = Number(args.submissions);
const BATCH = Number(args.batch);
const RUNS = Number(args.runs);

interface Cost {
  ms: number;
  cpuMs: number;
}

/** Wall and CPU time of `work` on `client`: this process and the client's PostgreSQL backend. */
async function measure(client: pg.PoolClient, work: () => Promise<void>): Promise<Cost> {
  const backend = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
  const ownBefore = process.cpuUsage();
  const backendBefore = cpuSeconds(backend) * 1000;
  const start = performance.now();
  await work();
  const ms = performance.now() - start;
  const own = process.cpuUsage(ownBefore);
  return { ms, cpuMs: (own.user + own.system) / 1000 + cpuSeconds(backend) * 1000 - backendBefore };
}

async function sink(pool: pg.Pool, fetches: Fetch[]): Promise<Cost> {
  const client = await pool.connect();
  try {
    return await measure(client, async () => {
      for (const f of fetches) await applyBatch(client, { group: 'bench', topic: f.topic, partition: 0, records: f.records, nextOffset: f.records.at(-1)!.offset + 1n });
    });
  } finally {
    client.release();
  }
}

/** One multi-row INSERT per `BATCH` rows into `table`, autocommitted. */
async function insertRows(client: pg.PoolClient, table: string, columns: string[], rows: unknown[][]): Promise<void> {
  for (let i = 0; i < rows.length; i += BATCH) {
    const chunk = rows.slice(i, i + BATCH);
    const tuples = chunk.map((_, r) => `(${columns.map((__, c) => `$${r * columns.length + c + 1}`).join(', ')})`);
    await client.query(`INSERT INTO ${table} (${columns.join(', ')}) VALUES ${tuples.join(', ')}`, chunk.flat());
  }
}

/** Every row the sink leaves behind, as plain value lists per table (built before the clock starts). */
function finalRows(fetches: Fetch[]): Record<'submissions' | 'batches' | 'batch_members' | 'permits', { columns: string[]; rows: unknown[][] }> {
  const iso = (ms: number | null | undefined) => (ms === null || ms === undefined ? null : new Date(ms).toISOString());
  const latest = new Map<string, SubmissionPatch>();
  const batches: unknown[][] = [];
  const members: unknown[][] = [];
  const permits: unknown[][] = [];
  for (const f of fetches) {
    for (const r of f.records) {
      if (r.kind === 'manifest') {
        const m = r.manifest;
        batches.push([m.batchId, m.idempotencyKey, m.partition, m.count, m.bytes, iso(m.openedAt), iso(m.closedAt), m.closeReason, m.firstOffset, m.lastOffset, m.archiveKey, m.workerId]);
        m.members.forEach((hash, position) => members.push([m.batchId, hash, position]));
      }
      if (r.kind !== 'state') continue;
      const seen = latest.get(r.patch.submissionHash);
      latest.set(r.patch.submissionHash, seen && seen.rank >= r.patch.rank ? { ...r.patch, ...seen } : { ...seen, ...r.patch });
      if (r.event.state === 'accepted') {
        const d = r.event.detail as { jurisdiction: string; permitType: string; parcelNumber: string | null; reviewTrack: string; computedFeeCents: number | null; warnings: string[] };
        permits.push([r.event.submissionHash, r.event.batchId, d.jurisdiction, d.permitType, d.parcelNumber, d.reviewTrack, d.computedFeeCents, d.warnings, iso(r.event.at)]);
      }
    }
  }
  const submissions = [...latest.values()].map((p) => [p.submissionHash, p.status, p.rank, iso(p.statusAt), p.source ?? null, p.sourceClient ?? null, p.sourceReference ?? null, iso(p.receivedAt), p.batchId ?? null, p.reviewTrack ?? null]);
  return {
    submissions: { columns: ['submission_hash', 'status', 'status_rank', 'status_at', 'source', 'source_client', 'source_reference', 'received_at', 'batch_id', 'review_track'], rows: submissions },
    batches: { columns: ['batch_id', 'idempotency_key', 'partition', 'member_count', 'bytes', 'opened_at', 'closed_at', 'close_reason', 'first_offset', 'last_offset', 'archive_key', 'worker_id'], rows: batches },
    batch_members: { columns: ['batch_id', 'submission_hash', 'position'], rows: members },
    permits: { columns: ['submission_hash', 'batch_id', 'jurisdiction', 'permit_type', 'parcel_number', 'review_track', 'computed_fee_cents', 'warnings', 'accepted_at'], rows: permits },
  };
}

const COLUMNS = ['submission_hash', 'state', 'batch_id', 'idempotency_key', 'at', 'worker_id', 'attempt', 'traceparent', 'trace_id', 'detail', 'source_topic', 'source_partition', 'source_offset'];

async function plain(pool: pg.Pool, fetches: Fetch[]): Promise<Cost> {
  const client = await pool.connect();
  try {
    await client.query('CREATE TABLE IF NOT EXISTS plain_events (LIKE submission_events INCLUDING DEFAULTS)');
    return await measure(client, async () => {
      for (const f of fetches) {
        const rows = f.records.flatMap((r) => (r.kind === 'state' ? [r] : []));
        if (rows.length === 0) continue;
        const values = rows.flatMap((r) => {
          const e = r.event;
          return [e.submissionHash, e.state, e.batchId, e.idempotencyKey, new Date(e.at).toISOString(), e.workerId, e.attempt, e.traceparent, e.traceId, JSON.stringify(e.detail), f.topic, 0, r.offset.toString()];
        });
        const tuples = rows.map((_, i) => `(${COLUMNS.map((__, j) => `$${i * COLUMNS.length + j + 1}`).join(', ')})`);
        await client.query(`INSERT INTO plain_events (${COLUMNS.join(', ')}) VALUES ${tuples.join(', ')}`, values);
      }
    });
  } finally {
    client.release();
  }
}

async function plainEveryTable(pool: pg.Pool, fetches: Fetch[], rest: ReturnType<typeof finalRows>): Promise<Cost> {
  const client = await pool.connect();
  try {
    for (const table of ['submission_events', ...Object.keys(rest)]) await client.query(`CREATE TABLE plain_all_${table} (LIKE ${table} INCLUDING DEFAULTS)`);
    const events = fetches.flatMap((f) =>
      f.records.flatMap((r) => {
        if (r.kind !== 'state') return [];
        const e = r.event;
        return [[e.submissionHash, e.state, e.batchId, e.idempotencyKey, new Date(e.at).toISOString(), e.workerId, e.attempt, e.traceparent, e.traceId, JSON.stringify(e.detail), f.topic, 0, r.offset.toString()]];
      }),
    );
    return await measure(client, async () => {
      await insertRows(client, 'plain_all_submission_events', COLUMNS, events);
      for (const [table, { columns, rows }] of Object.entries(rest)) await insertRows(client, `plain_all_${table}`, columns, rows);
    });
  } finally {
    client.release();
  }
}

async function withSchema<T>(fn: (pool: pg.Pool) => Promise<T>): Promise<T> {
  const schema = `rm_bench_${randomBytes(4).toString('hex')}`;
  const config = loadConfig({ ...process.env, READ_MODEL_SCHEMA: schema, LOG_LEVEL: 'warn' });
  const pool = createReadModelPool(config, { applicationName: 'permitflow-bench', max: 2 });
  try {
    await migrate(pool, schema);
    return await fn(pool);
  } finally {
    await pool.query(`DROP SCHEMA IF EXISTS ${quoteIdent(schema)} CASCADE`).catch(() => undefined);
    await pool.end();
  }
}

const { fetches, stateRecords } = workload(SUBMISSIONS, BATCH);
const rest = finalRows(fetches);
const runs: Array<{ sink: Cost; plain: Cost; plainAll: Cost; sinkRows: Record<string, number> }> = [];
for (let run = 0; run < RUNS; run++) {
  const result = await withSchema(async (pool) => {
    // Each run starts with another mode, so none always runs first (colder caches) or last.
    const modes = [() => sink(pool, fetches), () => plain(pool, fetches), () => plainEveryTable(pool, fetches, rest)];
    const costs: Cost[] = [];
    for (let i = 0; i < modes.length; i++) {
      const mode = (run + i) % modes.length;
      costs[mode] = await modes[mode]!();
    }
    const [sinkCost, plainCost, plainAllCost] = costs as [Cost, Cost, Cost];
    const count = async (table: string) => Number((await pool.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`)).rows[0]!.n);
    const sinkRows = { submission_events: await count('submission_events'), submissions: await count('submissions'), batches: await count('batches'), batch_members: await count('batch_members'), permits: await count('permits') };
    if (sinkRows.submission_events !== stateRecords || (await count('plain_events')) !== stateRecords) throw new Error('a mode lost rows');
    for (const table of Object.keys(rest) as (keyof typeof rest)[]) {
      if ((await count(`plain_all_${table}`)) !== sinkRows[table]) throw new Error(`plain, every table: ${table} differs from the sink's`);
    }
    return { sink: sinkCost, plain: plainCost, plainAll: plainAllCost, sinkRows };
  });
  runs.push(result);
  const perSecond = (ms: number) => Math.round(stateRecords / (ms / 1000));
  console.log(
    `run ${run + 1}: sink ${perSecond(result.sink.ms)} records/s (${perSecond(result.sink.cpuMs)} per CPU-s), plain ${perSecond(result.plain.ms)} records/s (${perSecond(result.plain.cpuMs)} per CPU-s), plain every table ${perSecond(result.plainAll.ms)} records/s (${perSecond(result.plainAll.cpuMs)} per CPU-s); ratios to every table ${(result.plainAll.ms / result.sink.ms).toFixed(2)} wall, ${(result.plainAll.cpuMs / result.sink.cpuMs).toFixed(2)} CPU; load ${loadavg()[0]!.toFixed(2)}`,
  );
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const rate = (ms: number) => Math.round(stateRecords / (ms / 1000));
const round2 = (x: number) => Number(x.toFixed(2));
/** Ratios are taken within each run (the modes ran minutes apart at most, under the same load), then summarised. */
const ratios = (of: (r: (typeof runs)[number]) => number) => {
  const each = runs.map(of);
  return { median: round2(median(each)), min: round2(Math.min(...each)), each: each.map(round2) };
};
const report = {
  at: new Date().toISOString(),
  submissions: SUBMISSIONS,
  stateRecords,
  fetchSize: BATCH,
  transactions: fetches.length,
  runs,
  sinkRecordsPerSecond: rate(median(runs.map((r) => r.sink.ms))),
  plainRecordsPerSecond: rate(median(runs.map((r) => r.plain.ms))),
  plainEveryTableRecordsPerSecond: rate(median(runs.map((r) => r.plainAll.ms))),
  sinkRecordsPerCpuSecond: rate(median(runs.map((r) => r.sink.cpuMs))),
  plainRecordsPerCpuSecond: rate(median(runs.map((r) => r.plain.cpuMs))),
  plainEveryTableRecordsPerCpuSecond: rate(median(runs.map((r) => r.plainAll.cpuMs))),
  // The same rows: every row the sink leaves behind, inserted plainly.
  ratioEveryTable: ratios((r) => r.plainAll.ms / r.sink.ms),
  cpuRatioEveryTable: ratios((r) => r.plainAll.cpuMs / r.sink.cpuMs),
  // The event rows alone (the sink writes 1.5 times as many rows: submissions, batches, members, permits).
  ratio: ratios((r) => r.plain.ms / r.sink.ms),
  cpuRatio: ratios((r) => r.plain.cpuMs / r.sink.cpuMs),
  loadAverage: loadavg().map((l) => Number(l.toFixed(2))),
  sinkRowsWritten: runs[0]!.sinkRows,
};
const show = (r: { median: number; min: number; each: number[] }) => `${r.median} (min ${r.min}; runs ${r.each.join(', ')})`;
console.log(`\n${stateRecords} state records of ${SUBMISSIONS} submissions in ${fetches.length} batches of up to ${BATCH}; ${RUNS} runs, medians, ratios taken per run`);
console.log(`sink (per-batch transaction)        ${report.sinkRecordsPerSecond} records/s, ${report.sinkRecordsPerCpuSecond} per CPU-s`);
console.log(`plain, every table the sink writes  ${report.plainEveryTableRecordsPerSecond} records/s, ${report.plainEveryTableRecordsPerCpuSecond} per CPU-s`);
console.log(`plain, the event rows alone         ${report.plainRecordsPerSecond} records/s, ${report.plainRecordsPerCpuSecond} per CPU-s`);
console.log(`ratio vs every table (same rows)    wall ${show(report.ratioEveryTable)}, per CPU-s ${show(report.cpuRatioEveryTable)}`);
console.log(`ratio vs the event rows alone       wall ${show(report.ratio)}, per CPU-s ${show(report.cpuRatio)}`);
console.log(`load ${report.loadAverage.join(' ')}`);
// The same rows on both sides, counted after every run (a mode that lost or added rows stops the bench above).
console.log(`rows in every run, sink and plain alike: ${Object.entries(report.sinkRowsWritten).map(([table, n]) => `${table} ${n}`).join(', ')}`);
mkdirSync(join(REPO_ROOT, 'bench/results'), { recursive: true });
const file = join(REPO_ROOT, 'bench/results', `read-model-${report.at.replace(/[:.]/g, '-')}.json`);
writeFileSync(file, JSON.stringify(report, null, 2));
console.log(`written to ${file}`);
