/**
 * Intake benchmark on the running local stack, over loopback. Every figure of the intake is
 * reported next to the same measurement of a bare handler (`POST /bench/noop`: same server,
 * parsers, hooks and limits, no work) taken in the same run:
 *
 *   sustained  most requests/s at fixed concurrency (autocannon), 2 KB and 200 KB bodies (200 KB
 *              is over the inline limit: every request writes an object to MinIO);
 *   rate       2,000 requests/s of 2 KB, evenly paced, open loop (goal: intake p99 under 50 ms,
 *              no 5xx), twice, interleaved; plus autocannon's fixed rate, which arrives in bursts;
 *   surge      200 requests/s, then 10x, paced, against an intake whose lag threshold the surge
 *              crosses (no windower runs in the bench namespace): deliberate 503s with
 *              Retry-After, no other 5xx. Latencies count every response, 503s included.
 *
 * Every request is a distinct submission. The machine is shared: each row records the load
 * average. Usage: see USAGE below (what --help prints).
 * Results: printed, and written to bench/results/intake-<timestamp>.{json,md}. Topics and
 * claim-checked objects it created are removed at the end.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import autocannon from 'autocannon';
import { parseBenchArgs } from '../args.ts';
import { createApiKey } from '../../connectors/intake/api-keys.ts';
import { REPO_ROOT } from '../../lib/config.ts';
import { createLogger } from '../../lib/logger.ts';
import { sampleApplications } from '../../test/support/samples.ts';
import { openLoop } from './open-loop.ts';
import { cleanupNamespace, prepareNamespace } from './stack.ts';

const USAGE = 'Usage: node --import tsx bench/intake/index.ts [--seconds N] [--only sustained,rate,surge]';

const logger = createLogger({ level: 'warn', name: 'bench-intake' });
const { values: args } = parseBenchArgs('intake', USAGE, { options: { seconds: { type: 'string', default: '12' }, only: { type: 'string', default: 'sustained,rate,surge' } } });
const SECONDS = Number(args.seconds);
const ONLY = new Set(args.only.split(','));

const ID = '[<id>]';
let sequence = 0;
const runId = randomBytes(4).toString('hex');

/** A submission of about `bytes` bytes with a placeholder for a per-request unique sourceReference. */
function template(bytes: number): [string, string] {
  const base = { ...sampleApplications()[0]!, sourceReference: `BENCH-${ID}`, description: '' };
  const pad = Math.max(0, bytes - JSON.stringify(base).length);
  const filler = (n: number) => 'Scope of work. '.repeat(Math.ceil(n / 15)).slice(0, n);
  // Within the schema's bounds: the description holds 10,000 characters, each extra field 2,000.
  const description = filler(Math.min(pad, 10_000));
  const extra = Math.max(0, pad - description.length);
  const extraFields = Object.fromEntries(Array.from({ length: Math.ceil(extra / 2030) }, (_, i) => [`note-${i}`, filler(2000)]));
  const text = JSON.stringify({ ...base, description, extraFields });
  const at = text.indexOf(ID);
  return [text.slice(0, at), text.slice(at + ID.length)];
}

/**
 * Every request a distinct submission (distinct hash: no dedup shortcut, a fresh object per
 * 200 KB request). autocannon's own idReplacement miscounts Content-Length in 8.0, hence this.
 */
function uniqueBodies(bytes: number): autocannon.Request[] {
  const [head, tail] = template(bytes);
  return [{ setupRequest: (request) => ({ ...request, body: `${head}${runId}-${sequence++}${tail}` }) }];
}

interface Server {
  url: string;
  child: ChildProcess;
}

async function startServer(env: Record<string, string>): Promise<Server> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'bench/intake/server.ts')], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout });
  const [line] = (await Promise.race([once(lines, 'line'), once(child, 'exit').then(() => { throw new Error('bench server exited before listening'); })])) as [string];
  return { url: (JSON.parse(line) as { url: string }).url, child };
}

async function stopServer(server: Server): Promise<void> {
  server.child.kill('SIGTERM');
  if (server.child.exitCode === null) await once(server.child, 'exit');
}

interface Figures {
  scenario: string;
  target: 'bare' | 'intake';
  bodyBytes: number;
  connections: number;
  rate: number | null;
  seconds: number;
  rps: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  statuses: Record<string, number>;
  errors: number;
  timeouts: number;
  /** 1-minute load average when the scenario ended: the machine is shared, this says how much. */
  load: number;
  /** Paced runs: p99 of each second, to see whether a tail is a moment or a level. */
  p99BySecond?: number[];
}

interface Load {
  bodyBytes: number;
  connections: number;
  seconds: number;
  rate?: number;
  /** Paced open loop (fixed rate, evenly spaced) instead of autocannon. */
  paced?: boolean;
  /** Paced only: seconds sent at the same pace before measuring (default 2). */
  warmupSeconds?: number;
}

async function measure(scenario: string, target: 'bare' | 'intake', server: Server, key: string, load: Load): Promise<Figures> {
  const url = `${server.url}${target === 'bare' ? '/bench/noop' : '/v1/submissions'}`;
  const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
  let figures: Omit<Figures, 'load'>;
  const base = { scenario, target, bodyBytes: load.bodyBytes, connections: load.connections, rate: load.rate ?? null, seconds: load.seconds };
  if (load.paced && load.rate !== undefined) {
    const [head, tail] = template(load.bodyBytes);
    const r = await openLoop({ url, headers, body: () => `${head}${runId}-${sequence++}${tail}`, rate: load.rate, seconds: load.seconds, warmupSeconds: load.warmupSeconds ?? 2, maxSockets: load.connections });
    figures = { ...base, rps: r.rps, p50: r.p50, p90: r.p90, p99: r.p99, max: r.max, statuses: r.statuses, errors: r.errors, timeouts: 0, p99BySecond: r.p99BySecond };
  } else {
    const result = await autocannon({
      url,
      method: 'POST',
      headers,
      requests: uniqueBodies(load.bodyBytes),
      connections: load.connections,
      duration: load.seconds,
      // At a fixed rate autocannon "corrects" for coordinated omission with an expected interval of
      // ceil(1 / per-connection rate) = 1 ms, inventing a sample per millisecond of every slow response.
      ...(load.rate !== undefined && { overallRate: load.rate, ignoreCoordinatedOmission: true }),
    });
    const statuses = Object.fromEntries(Object.entries(result.statusCodeStats ?? {}).map(([code, st]) => [code, st.count ?? 0]));
    figures = { ...base, rps: Math.round(result.requests.average), p50: result.latency.p50, p90: result.latency.p90, p99: result.latency.p99, max: result.latency.max, statuses, errors: result.errors, timeouts: result.timeouts };
  }
  const measured: Figures = { ...figures, load: Math.round(loadavg()[0]! * 100) / 100 };
  console.log(`${scenario.padEnd(24)} ${target.padEnd(6)} ${String(measured.rps).padStart(6)} req/s  p50 ${measured.p50} ms  p99 ${measured.p99} ms  max ${measured.max} ms  ${JSON.stringify(measured.statuses)}${measured.errors ? `  errors ${measured.errors}` : ''}  load ${measured.load}`);
  if (measured.p99BySecond) console.log(`${''.padEnd(31)}p99 by second: ${measured.p99BySecond.join(' ')}`);
  return measured;
}

async function main(): Promise<void> {
  const keysFile = join(mkdtempSync(join(tmpdir(), 'permitflow-bench-')), 'api-keys.json');
  // A budget no scenario reaches: the limiter still runs (one Redis call per request) but never refuses.
  const key = createApiKey(keysFile, { client: 'bench', scopes: ['submit', 'read'], rateLimitPerSecond: 1_000_000 }).key;
  const common = { LOG_LEVEL: 'warn', INTAKE_API_KEYS_FILE: keysFile, INTAKE_STATUS_TTL_S: '900', PERMITFLOW_PARTITIONS: '6' };
  const results: Figures[] = [];
  const namespaces: string[] = [];

  try {
    if (ONLY.has('sustained') || ONLY.has('rate')) {
      const namespace = `bench${randomBytes(4).toString('hex')}`;
      namespaces.push(namespace);
      await prepareNamespace(namespace);
      const server = await startServer({ ...common, PERMITFLOW_TOPIC_NAMESPACE: namespace, INTAKE_LAG_THRESHOLD: '1000000000' });
      try {
        // Warm-up: JIT, connections, the registry's schema id.
        await measure('warm-up', 'intake', server, key, { bodyBytes: 2048, connections: 10, seconds: 3 });
        await measure('warm-up', 'bare', server, key, { bodyBytes: 2048, connections: 10, seconds: 2 });
        // Fixed rate first: the 200 KB run leaves MinIO and the heap busier for a while.
        if (ONLY.has('rate')) {
          // Two interleaved rounds: the machine is shared, one round alone can catch someone else's burst.
          for (const round of [1, 2]) {
            results.push(await measure(`rate-2000/s #${round}`, 'bare', server, key, { bodyBytes: 2048, connections: 64, seconds: SECONDS, rate: 2000, paced: true }));
            results.push(await measure(`rate-2000/s #${round}`, 'intake', server, key, { bodyBytes: 2048, connections: 64, seconds: SECONDS, rate: 2000, paced: true }));
          }
          // For reference: autocannon's fixed rate, which arrives as one burst per second.
          results.push(await measure('autocannon-2000/s burst', 'bare', server, key, { bodyBytes: 2048, connections: 100, seconds: SECONDS, rate: 2000 }));
          results.push(await measure('autocannon-2000/s burst', 'intake', server, key, { bodyBytes: 2048, connections: 100, seconds: SECONDS, rate: 2000 }));
        }
        if (ONLY.has('sustained')) {
          for (const [bodyBytes, connections] of [[2048, 50], [200 * 1024, 20]] as const) {
            const name = `sustained-${bodyBytes === 2048 ? '2KB' : '200KB'}`;
            results.push(await measure(name, 'bare', server, key, { bodyBytes, connections, seconds: SECONDS }));
            results.push(await measure(name, 'intake', server, key, { bodyBytes, connections, seconds: SECONDS }));
          }
        }
      } finally {
        await stopServer(server);
      }
    }

    if (ONLY.has('surge')) {
      const namespace = `bench${randomBytes(4).toString('hex')}`;
      namespaces.push(namespace);
      await prepareNamespace(namespace);
      // The surge crosses this lag after a few seconds; nothing consumes the bench namespace.
      const threshold = 2000 * 4;
      const server = await startServer({ ...common, PERMITFLOW_TOPIC_NAMESPACE: namespace, INTAKE_LAG_THRESHOLD: String(threshold), INTAKE_LAG_POLL_MS: '1000', INTAKE_RETRY_AFTER_MAX_S: '60' });
      try {
        await measure('warm-up', 'intake', server, key, { bodyBytes: 2048, connections: 10, seconds: 2, rate: 200, paced: true });
        results.push(await measure('surge-base-200/s', 'bare', server, key, { bodyBytes: 2048, connections: 64, seconds: 5, rate: 200, paced: true }));
        results.push(await measure('surge-base-200/s', 'intake', server, key, { bodyBytes: 2048, connections: 64, seconds: 5, rate: 200, paced: true }));
        // The jump itself is measured: half a second of warm-up only opens the extra connections.
        results.push(await measure('surge-10x-2000/s', 'bare', server, key, { bodyBytes: 2048, connections: 64, seconds: SECONDS, rate: 2000, paced: true, warmupSeconds: 0.5 }));
        results.push(await measure('surge-10x-2000/s', 'intake', server, key, { bodyBytes: 2048, connections: 64, seconds: SECONDS, rate: 2000, paced: true, warmupSeconds: 0.5 }));
      } finally {
        await stopServer(server);
      }
    }
  } finally {
    for (const namespace of namespaces) await cleanupNamespace(namespace).catch((err: unknown) => logger.warn({ err, namespace }, 'bench cleanup failed'));
  }
  report(results);
}

function report(results: Figures[]): void {
  const rows: string[] = ['| scenario | body | conns | rate | bare req/s | intake req/s | req/s ratio | bare p50 / p99 ms | intake p50 / p99 ms | p99 ratio | intake statuses | load |', '|---|---|---|---|---|---|---|---|---|---|---|---|'];
  for (const scenario of [...new Set(results.map((r) => r.scenario))]) {
    const bare = results.find((r) => r.scenario === scenario && r.target === 'bare');
    const intake = results.find((r) => r.scenario === scenario && r.target === 'intake');
    if (!bare || !intake) continue;
    const ratio = (a: number, b: number) => (b > 0 ? (a / b).toFixed(2) : 'n/a');
    rows.push(
      `| ${scenario} | ${intake.bodyBytes >= 1024 ? `${Math.round(intake.bodyBytes / 1024)} KB` : `${intake.bodyBytes} B`} | ${intake.connections} | ${intake.rate ?? 'max'} | ${bare.rps} | ${intake.rps} | ${ratio(intake.rps, bare.rps)} | ${bare.p50} / ${bare.p99} | ${intake.p50} / ${intake.p99} | ${ratio(intake.p99, bare.p99)} | ${JSON.stringify(intake.statuses)}${intake.errors ? ` errors ${intake.errors}` : ''} | ${intake.load} |`,
    );
  }
  const table = rows.join('\n');
  console.log(`\n${table}`);
  const dir = join(REPO_ROOT, 'bench/results');
  mkdirSync(dir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  writeFileSync(join(dir, `intake-${stamp}.json`), `${JSON.stringify({ at: new Date().toISOString(), node: process.version, results }, null, 2)}\n`);
  writeFileSync(join(dir, `intake-${stamp}.md`), `# intake benchmark ${new Date().toISOString()}\n\n${table}\n`);
  console.log(`written to bench/results/intake-${stamp}.{json,md}`);
}

await main();
