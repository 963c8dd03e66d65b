/**
 * Live: the HTTP intake under open-loop load at a fixed rate with every stage running, in a
 * namespace of its own per rate. End-to-end latency per submission is read from the read model:
 * the intake's `receivedAt` (stamped before the 202) to the decision record's time. Consumer lag
 * of every group is sampled each second. A rate is sustainable when every request got its 202
 * (none shed with 503), every submission was decided, and the end-to-end p99 stayed under 5 s.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createApiKey } from '../../connectors/intake/api-keys.ts';
import { createKafka } from '../../lib/kafka.ts';
import { fetchGroupLag } from '../../lib/lag.ts';
import { createLogger } from '../../lib/logger.ts';
import { PROCESSORS, type ProcessorId } from '../../topology/topics.ts';
import { freePort } from '../../test/support/ports.ts';
import { openLoop } from '../intake/open-loop.ts';
import { round, STAGES, type Layout } from './drain.ts';
import { createNamespace, type Namespace } from './namespace.ts';
import { spawnStage, stopStages, watchExits, type StageProcess } from './processes.ts';
import { fixtureApplications, variant } from './workload.ts';

export const SUSTAINABLE_P99_S = 5;

export interface LiveResult {
  rate: number;
  seconds: number;
  layout: Layout;
  sent: number;
  accepted: number;
  shed503: number;
  otherStatuses: Record<string, number>;
  intakeP99Ms: number;
  decided: number;
  undecided: number;
  endToEnd: { p50: number; p99: number; max: number };
  maxLag: number;
  /** Summed lag of every group, once a second. */
  lagBySecond: number[];
  sustainable: boolean;
  loadAverage: number;
}

const percentile = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;

async function totalLag(ns: Namespace, admin: ReturnType<ReturnType<typeof createKafka>['admin']>): Promise<number> {
  const lags = await Promise.all(
    (Object.keys(PROCESSORS) as ProcessorId[]).map((id) =>
      fetchGroupLag(admin, ns.topology.group(id), PROCESSORS[id].inputs.filter((t) => !t.startsWith('retry')).map((t) => ns.topology.topics[t].name)),
    ),
  );
  return lags.reduce((sum, g) => sum + g.lag, 0);
}

async function decidedCount(ns: Namespace, prefix: string): Promise<number> {
  const { rows } = await ns.pool.query<{ n: string }>(`SELECT count(*) AS n FROM submissions WHERE status IN ('accepted', 'rejected') AND source_reference LIKE $1`, [`${prefix}-%`]);
  return Number(rows[0]!.n);
}

export async function live(options: { rate: number; seconds: number; layout: Layout }): Promise<LiveResult> {
  const { rate, seconds, layout } = options;
  // Windows close on age within a second here: at a few hundred submissions/s per partition a
  // window of 500 takes seconds to fill, and the production default (15 min) is for surges of files.
  const ns = await createNamespace({ WINDOW_MAX_AGE_MS: '1000' });
  const keysDir = mkdtempSync(join(tmpdir(), 'permitflow-e2e-'));
  const stages: StageProcess[] = [];
  const admin = createKafka(ns.config, createLogger({ level: 'warn' })).admin();
  try {
    const keysFile = join(keysDir, 'api-keys.json');
    const { key } = createApiKey(keysFile, { client: 'bench-e2e', scopes: ['submit'], rateLimitPerSecond: 100_000 });
    const intakePort = await freePort();
    for (const name of layout === 'all' ? ['all'] : STAGES) stages.push(spawnStage(name, { env: ns.env, metricsPort: await freePort() }));
    stages.push(spawnStage('intake', { env: { ...ns.env, INTAKE_PORT: String(intakePort), INTAKE_API_KEYS_FILE: keysFile }, metricsPort: 0, args: ['intake'] }));
    const exits = watchExits(stages);
    await admin.connect();
    const url = `http://127.0.0.1:${intakePort}`;
    const apps = fixtureApplications();
    const post = (body: string) => fetch(`${url}/v1/submissions`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body });

    // Warm-up: every stage joined and the lookup cache warm before the clock starts.
    const warmupPrefix = `WARM${rate}`;
    for (let deadline = Date.now() + 120_000; ; ) {
      exits.check();
      const ok = await fetch(`${url}/readyz`).then((r) => r.ok, () => false);
      if (ok) break;
      if (Date.now() > deadline) throw new Error('the intake did not become ready within 120 s');
      await sleep(250);
    }
    for (let i = 0; i < 20; i++) {
      const res = await post(JSON.stringify(variant(apps, i, warmupPrefix)));
      if (res.status !== 202) throw new Error(`warm-up submission answered ${res.status}: ${await res.text()}`);
    }
    for (let deadline = Date.now() + 120_000; (await decidedCount(ns, warmupPrefix)) < 20; ) {
      exits.check();
      if (Date.now() > deadline) throw new Error('the warm-up submissions were not decided within 120 s');
      await sleep(250);
    }

    const prefix = `LIVE${rate}`;
    let sequence = 0;
    const lagBySecond: number[] = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        lagBySecond.push(await totalLag(ns, admin).catch(() => -1));
        await sleep(1000);
      }
    })();
    const load = await openLoop({
      url: `${url}/v1/submissions`,
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: () => JSON.stringify(variant(apps, sequence++, prefix)),
      rate,
      seconds,
      warmupSeconds: 0,
      maxSockets: 128,
    });
    const accepted = load.statuses['202'] ?? 0;
    // Drain what was accepted (bounded), then read every latency from the read model.
    for (let deadline = Date.now() + 120_000; Date.now() < deadline; await sleep(500)) {
      exits.check();
      if ((await decidedCount(ns, prefix)) >= accepted) break;
    }
    sampling = false;
    await sampler;
    const { rows } = await ns.pool.query<{ s: number }>(
      `SELECT extract(epoch FROM e.at - s.received_at)::float8 AS s
         FROM submissions s JOIN submission_events e ON e.submission_hash = s.submission_hash AND e.state IN ('accepted', 'rejected')
        WHERE s.source_reference LIKE $1`,
      [`${prefix}-%`],
    );
    const latencies = rows.map((r) => r.s).sort((a, b) => a - b);
    const decided = latencies.length;
    const shed503 = load.statuses['503'] ?? 0;
    const otherStatuses = Object.fromEntries(Object.entries(load.statuses).filter(([s]) => s !== '202' && s !== '503'));
    if (load.errors > 0) otherStatuses.connectionErrors = load.errors;
    const endToEnd = { p50: round(percentile(latencies, 50), 2), p99: round(percentile(latencies, 99), 2), max: round(latencies.at(-1) ?? 0, 2) };
    const undecided = accepted - decided;
    return {
      rate,
      seconds,
      layout,
      sent: Object.values(load.statuses).reduce((a, b) => a + b, 0) + load.errors,
      accepted,
      shed503,
      otherStatuses,
      intakeP99Ms: load.p99,
      decided,
      undecided,
      endToEnd,
      maxLag: Math.max(0, ...lagBySecond),
      lagBySecond,
      sustainable: shed503 === 0 && Object.keys(otherStatuses).length === 0 && undecided === 0 && endToEnd.p99 < SUSTAINABLE_P99_S,
      loadAverage: round(loadavg()[0]!, 2),
    };
  } finally {
    await admin.disconnect().catch(() => undefined);
    await stopStages(stages, 15_000);
    rmSync(keysDir, { recursive: true, force: true });
    await ns.cleanup();
  }
}
