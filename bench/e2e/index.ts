/**
 * End-to-end benchmark: the whole pipeline, the seed's Celery design and Kafka's own ceiling,
 * side by side in one run, on the running local stack (each scenario in a fresh namespace,
 * removed afterwards: topics, registry subjects, read-model schema, batch archives).
 *
 *   drain-all       N applications on the raw topic, then `run all` (one process) timed from the
 *                   first received to the N-th decision in the read model
 *   drain-stages    the same with one process per stage
 *   live            the HTTP intake under open-loop load at fixed rates, every stage running:
 *                   end-to-end latency, lag, 503s shed; the sustainable rate
 *   celery-batch    the Celery peer, one broker message per 500 submissions
 *   celery-message  the Celery peer, one broker message per submission
 *   producer-perf   Kafka's ProducerPerformance, 1 KB records, acks=all, 6 partitions
 *
 * Usage: see USAGE below (what --help prints).
 * With --profile each drain's processes run with --cpu-prof; the top 15 self-time functions per
 * process go into the report. Results: printed, and bench/results/e2e-<timestamp>.{json,md}.
 */
import { once } from 'node:events';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { parseBenchArgs } from '../args.ts';
import { envFilePath, loadConfig, REPO_ROOT, type Config } from '../../lib/config.ts';
import { createKafka } from '../../lib/kafka.ts';
import { createLogger } from '../../lib/logger.ts';
import { portInUse } from '../../ops/stack/proc.ts';
import { drain, round } from './drain.ts';
import { live } from './live.ts';
import { startLookupFixtures } from './lookup-fixtures.ts';
import { celeryPeer, producerPerformance } from './peers.ts';
import { renderMarkdown, type E2eResults } from './report.ts';

const USAGE = `Usage: node --import tsx bench/e2e/index.ts [--rows N] [--only a,b] [--rates 500,1000,2000]
       [--seconds 60] [--live-layout all|stages] [--producer-records 500000] [--profile] [--out bench/results]`;

const SCENARIOS = ['drain-all', 'drain-stages', 'live', 'celery-batch', 'celery-message', 'producer-perf'] as const;

const { values: args } = parseBenchArgs('e2e', USAGE, {
  options: {
    rows: { type: 'string', default: '20000' },
    only: { type: 'string', default: SCENARIOS.join(',') },
    rates: { type: 'string', default: '500,1000,2000' },
    seconds: { type: 'string', default: '60' },
    'live-layout': { type: 'string', default: 'all' },
    'producer-records': { type: 'string', default: '500000' },
    profile: { type: 'boolean', default: false },
    out: { type: 'string', default: join(REPO_ROOT, 'bench/results') },
  },
});

function fail(message: string): never {
  console.error(`bench e2e: ${message}`);
  process.exit(2);
}

const rows = Number(args.rows);
if (!Number.isInteger(rows) || rows < 1) fail(`--rows ${args.rows}: expected a whole number of applications`);
const only = new Set(args.only.split(',').filter(Boolean));
for (const s of only) if (!(SCENARIOS as readonly string[]).includes(s)) fail(`--only ${s}: expected some of ${SCENARIOS.join(', ')}`);
const rates = args.rates.split(',').map(Number);
if (rates.some((r) => !Number.isInteger(r) || r < 1)) fail(`--rates ${args.rates}: expected whole submissions/s, comma-separated`);
if (args['live-layout'] !== 'all' && args['live-layout'] !== 'stages') fail(`--live-layout ${args['live-layout']}: expected all or stages`);
const liveLayout = args['live-layout'];

/** Refuses to start on a stack that is down, or when the fixture servers' ports are taken. */
async function preflight(config: Config): Promise<void> {
  if (!existsSync(envFilePath())) fail(`the local stack is not set up (${envFilePath()} is missing): start it with \`make stack-up\``);
  const admin = createKafka(config, createLogger({ level: 'silent' })).admin();
  const down = (what: string, err: unknown) => fail(`the local stack is down: ${what} does not answer (${(err as Error).message}); start it with \`make stack-up\``);
  await Promise.race([admin.connect(), new Promise((_, reject) => setTimeout(() => reject(new Error('no answer in 10 s')), 10_000).unref())]).catch((err: unknown) => down(`Kafka at ${config.kafka.brokers.join(',')}`, err));
  await admin.disconnect();
  const client = new pg.Client({ connectionString: config.database.url, connectionTimeoutMillis: 5000 });
  await client.connect().then(() => client.query('SELECT 1')).catch((err: unknown) => down('PostgreSQL', err));
  await client.end();
  await fetch(`${config.registry.url}/subjects`, { signal: AbortSignal.timeout(5000) }).catch((err: unknown) => down(`the schema registry at ${config.registry.url}`, err));
  for (const [what, url] of [['ArcGIS fixture (LOOKUPS_PARCELS_URL)', config.lookups.endpoints.parcels], ['SODA fixture (LOOKUPS_PERMITS_URL)', config.lookups.endpoints.permits]] as const) {
    const port = Number(new URL(url).port);
    if (await portInUse(port)) fail(`port ${port} is taken: the bench starts its own ${what} there; stop whatever listens on it first`);
  }
}

async function main(): Promise<void> {
  const config = loadConfig();
  await preflight(config);
  const startedAt = new Date().toISOString();
  const stamp = startedAt.replace(/[:.]/g, '-');
  const resultsDir = args.out;
  mkdirSync(resultsDir, { recursive: true });
  const results: E2eResults = { startedAt, rows, machine: { cpus: cpus().length, node: process.versions.node }, drains: [], live: [], celery: [], failures: [], loads: {} };
  const fixtures = await startLookupFixtures();
  // A row that fails is reported as failed; the others still run (and the process exits non-zero).
  const row = async (what: string, fn: () => Promise<void>) => {
    if (!only.has(what.replace(/:.*/, ''))) return;
    console.error(`bench e2e: ${what} ...`);
    try {
      await fn();
      results.loads[what] = round(loadavg()[0]!, 2);
    } catch (err) {
      console.error(`bench e2e: ${what} failed: ${(err as Error).stack}`);
      results.failures.push({ what, error: (err as Error).message });
    }
  };
  try {
    await row('producer-perf', async () => void (results.producerPerf = await producerPerformance(Number(args['producer-records']), config.topology.partitions)));
    for (const layout of ['all', 'stages'] as const) {
      await row(`drain-${layout}`, async () => {
        results.drains.push(await drain({ rows, layout, ...(args.profile && { profileDir: join(resultsDir, `e2e-${stamp}-profiles`, layout) }) }));
      });
    }
    for (const intake of ['batch', 'message'] as const) await row(`celery-${intake}`, async () => void results.celery.push(await celeryPeer(rows, intake)));
    for (const rate of rates) await row(`live:${rate}`, async () => void results.live.push(await live({ rate, seconds: Number(args.seconds), layout: liveLayout })));
  } finally {
    fixtures.kill('SIGTERM');
    await once(fixtures, 'exit');
  }
  const markdown = renderMarkdown(results);
  writeFileSync(join(resultsDir, `e2e-${stamp}.json`), `${JSON.stringify(results, null, 2)}\n`);
  writeFileSync(join(resultsDir, `e2e-${stamp}.md`), markdown);
  console.log(markdown);
  console.error(`bench e2e: written to ${join(resultsDir, `e2e-${stamp}`)}.{json,md}`);
  if (results.failures.length > 0) process.exitCode = 1;
}

await main();
