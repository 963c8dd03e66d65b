/**
 * One chaos scenario: N distinct applications flow through every stage (one `permitflow run
 * <stage>` process each) on the private stack; once a share of them is decided the fault is
 * injected; then the run is audited from the topics (read_committed) and the read model.
 *
 * - duplicated: a submission with more than one record in one state topic, or in two batches;
 * - lost: a submission a stage consumed (its group committed past the input record) without
 *   writing any of its outputs for it;
 * - stuck: a submission not decided (accepted, rejected or dead-lettered) in the topics, or
 *   whose read-model status differs from the topics, once the deadline after the fault passed;
 * - recovery: seconds from the end of the fault until decisions are committed again, both on
 *   the topics and in the read model.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { readTopic } from '../../connectors/topic-reader.ts';
import { createKafka } from '../../lib/kafka.ts';
import { createLogger } from '../../lib/logger.ts';
import { createRegistry, createSerde } from '../../schemas/serde.ts';
import type { BatchManifest, DeadLetter } from '../../schemas/types.ts';
import { PROCESSORS, type ProcessorId, type TopicId } from '../../topology/topics.ts';
import { lookupsEnv } from '../fixtures/lookups/harness.ts';
import { startArcgisFixture } from '../fixtures/lookups/arcgis-server.ts';
import { startSodaFixture } from '../fixtures/lookups/soda-server.ts';
import { createNamespace, hashOf, produceApplications, spawnStage, stopStages, type Namespace, type StageProcess } from './workload.ts';

export const STAGES = ['windower', 'enricher', 'validator', 'decider', 'read-model'] as const;
export type Stage = (typeof STAGES)[number];

/** What a scenario's fault may use: the running stages (to kill and respawn) and the namespace. */
export interface FaultContext {
  ns: Namespace;
  stages: Map<Stage, StageProcess>;
  respawn: (stage: Stage) => Promise<void>;
  log: (line: string) => void;
}

export interface Scenario {
  name: string;
  /** Extra environment of the stage processes (e.g. KAFKA_BROKERS through a fault proxy). */
  stageEnv?: () => Promise<Record<string, string>>;
  /** Injects the fault and resolves once it has ended (the service is back, the proxy clean). */
  fault(ctx: FaultContext): Promise<void>;
  /** Called after the run, whatever happened (close a proxy). */
  cleanup?(): Promise<void>;
}

export interface ScenarioResult {
  scenario: string;
  submissions: number;
  lost: number;
  duplicated: number;
  stuck: number;
  /** Seconds from the end of the fault to decisions committed again (null: never within the deadline). */
  recoverySeconds: number | null;
  /** Seconds from the end of the fault until every submission was decided and in the read model. */
  drainSeconds: number | null;
  notes: string[];
}

export interface RunOptions {
  submissions: number;
  /** Share of submissions decided before the fault starts. */
  faultAt?: number;
  /** Time allowed after the fault for everything to be decided. */
  deadlineMs?: number;
  log?: (line: string) => void;
  /** A folder for each stage process's output (logged at info), to follow a run afterwards. */
  stageLogDir?: string;
}

const logger = createLogger({ level: 'warn' });
const STATE_TOPICS: TopicId[] = ['received', 'chunked', 'enriched', 'validated', 'accepted', 'rejected'];
/** Faster than the defaults so a run of a few minutes sees many batches, rebalances and retries. */
const STAGE_SETTINGS = {
  WINDOW_MAX_COUNT: '50',
  WINDOW_MAX_AGE_MS: '2000',
  PERMITFLOW_SESSION_TIMEOUT_MS: '10000',
  PERMITFLOW_RETRY_DELAYS_MS: '2000,4000,8000',
  LOOKUPS_RETRY_BASE_MS: '50',
  LOOKUPS_RETRY_MAX_MS: '500',
  LOOKUPS_PARCELS_RATE_LIMIT: '1000',
  LOOKUPS_ZONING_RATE_LIMIT: '1000',
  LOOKUPS_OVERLAYS_RATE_LIMIT: '1000',
  LOOKUPS_HISTORY_RATE_LIMIT: '1000',
};

/** Decisions committed so far: on the topics (end offsets, markers included) and in the read model. */
async function progress(ns: Namespace): Promise<{ topics: number; readModel: number }> {
  const admin = createKafka(ns.config, logger).admin();
  await admin.connect();
  try {
    let topics = 0;
    for (const id of ['accepted', 'rejected', 'dlq'] as TopicId[]) topics += (await admin.fetchTopicOffsets(ns.topology.topics[id].name)).reduce((n, o) => n + Number(o.high), 0);
    const { rows } = await ns.pool.query<{ n: string }>(`SELECT count(*) AS n FROM submissions WHERE status IN ('accepted', 'rejected', 'dead_lettered')`);
    return { topics, readModel: Number(rows[0]!.n) };
  } finally {
    await admin.disconnect();
  }
}

/** Polls `check` until true or the deadline; errors count as "not yet" (services come back). */
async function until(check: () => Promise<boolean>, deadline: number, intervalMs = 500): Promise<boolean> {
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return true;
    await sleep(intervalMs);
  }
  return false;
}

export interface Audit {
  lost: number;
  duplicated: number;
  stuck: number;
  notes: string[];
}

/** Audits a finished (or timed-out) run from the topics, read_committed, and from the read model. */
export async function audit(ns: Namespace, expected: string[]): Promise<Audit> {
  const kafka = createKafka(ns.config, logger);
  const serde = createSerde(createRegistry(ns.config));
  const read = async <T>(id: TopicId) => readTopic<T>(kafka, serde, ns.topology.topics[id], { timeoutMs: 120_000 });
  const notes: string[] = [];
  const byTopic = new Map<TopicId, Awaited<ReturnType<typeof read>>>();
  for (const id of [...STATE_TOPICS, 'raw', 'batches', 'dlq', 'retryEnrich1', 'retryEnrich2', 'retryEnrich3'] as TopicId[]) byTopic.set(id, await read(id));
  const keysOf = (id: TopicId): string[] => {
    if (id === 'dlq') return byTopic.get('dlq')!.map((r) => (r.value as DeadLetter).submissionHash ?? r.key ?? '');
    if (id === 'batches') return byTopic.get('batches')!.flatMap((r) => (r.value as BatchManifest).members);
    return byTopic.get(id)!.map((r) => r.key ?? '');
  };

  const duplicatedHashes = new Set<string>();
  for (const id of [...STATE_TOPICS, 'batches'] as TopicId[]) {
    const seen = new Set<string>();
    for (const key of keysOf(id)) {
      if (seen.has(key)) {
        duplicatedHashes.add(key);
        notes.push(`duplicate on ${id}: ${key.slice(0, 12)}`);
      }
      seen.add(key);
    }
  }

  // Lost: consumed by a stage (committed past) with none of its outputs for it.
  const admin = kafka.admin();
  await admin.connect();
  const lostHashes = new Set<string>();
  try {
    for (const stage of ['windower', 'enricher', 'validator', 'decider'] as ProcessorId[]) {
      const outputs = new Set<string>(PROCESSORS[stage].outputs.flatMap((id) => keysOf(id)));
      const inputs = PROCESSORS[stage].inputs as readonly TopicId[];
      const committed = await admin.fetchOffsets({ groupId: ns.topology.group(stage), topics: inputs.map((id) => ns.topology.topics[id].name) });
      for (const id of inputs) {
        const name = ns.topology.topics[id].name;
        const next = new Map(committed.find((c) => c.topic === name)?.partitions.map((p) => [p.partition, BigInt(p.offset)]) ?? []);
        for (const r of byTopic.get(id)!) {
          if (r.key && BigInt(r.offset) < (next.get(r.partition) ?? -1n) && !outputs.has(r.key)) {
            lostHashes.add(r.key);
            notes.push(`lost by ${stage}: ${r.key.slice(0, 12)} (${id}[${r.partition}]@${r.offset})`);
          }
        }
      }
    }
  } finally {
    await admin.disconnect();
  }

  const decided = new Map<string, string>();
  for (const id of ['accepted', 'rejected'] as TopicId[]) for (const key of keysOf(id)) decided.set(key, id);
  for (const key of keysOf('dlq')) if (!decided.has(key)) decided.set(key, 'dead_lettered');
  const { rows } = await ns.pool.query<{ submission_hash: string; status: string }>('SELECT submission_hash, status FROM submissions');
  const readModel = new Map(rows.map((r) => [r.submission_hash, r.status]));
  let stuck = 0;
  for (const hash of expected) {
    if (lostHashes.has(hash)) continue;
    const state = decided.get(hash);
    if (!state) {
      stuck++;
      const furthest = [...STATE_TOPICS].reverse().find((id) => keysOf(id).includes(hash)) ?? 'raw';
      if (stuck <= 5) notes.push(`stuck at ${furthest}: ${hash.slice(0, 12)}`);
    } else if (readModel.get(hash) !== state) {
      stuck++;
      if (stuck <= 5) notes.push(`read model says ${readModel.get(hash) ?? 'nothing'} for ${state}: ${hash.slice(0, 12)}`);
    }
  }
  return { lost: lostHashes.size, duplicated: duplicatedHashes.size, stuck, notes };
}

export async function runScenario(scenario: Scenario, options: RunOptions): Promise<ScenarioResult> {
  const log = options.log ?? (() => undefined);
  const arcgis = await startArcgisFixture();
  const soda = await startSodaFixture();
  const stageEnv = {
    ...STAGE_SETTINGS,
    ...lookupsEnv(arcgis.origin, soda.origin),
    LOOKUPS_REDIS_PREFIX: `permitflow:chaos:${randomBytes(4).toString('hex')}:`,
    ...(options.stageLogDir && { LOG_LEVEL: 'info' }),
  };
  const ns = await createNamespace(stageEnv);
  const stages = new Map<Stage, StageProcess>();
  const extraEnv = (await scenario.stageEnv?.()) ?? {};
  const logDir = options.stageLogDir && join(options.stageLogDir, ns.env.PERMITFLOW_TOPIC_NAMESPACE!);
  if (logDir) {
    mkdirSync(logDir, { recursive: true });
    log(`${scenario.name}: stage logs in ${logDir}`);
  }
  const respawn = (stage: Stage): Promise<void> => {
    stages.set(stage, spawnStage(stage, { ...ns.env, ...extraEnv }, log, logDir && join(logDir, `${stage}.log`)));
    return Promise.resolve();
  };
  try {
    // Submissions keep arriving through the fault: a steady flow over about two minutes.
    const expected = Array.from({ length: options.submissions }, (_, i) => hashOf(i));
    const flowing = produceApplications(ns.config, ns.topology, options.submissions, Math.max(20, Math.ceil(options.submissions / 120)));
    flowing.catch(() => undefined);
    for (const stage of STAGES) await respawn(stage);
    const deadlineMs = options.deadlineMs ?? 240_000;

    const faultAt = Math.floor(options.submissions * (options.faultAt ?? 0.2));
    const started = await until(async () => (await progress(ns)).readModel >= faultAt, Date.now() + 300_000);
    if (!started) throw new Error(`${scenario.name}: fewer than ${faultAt} decisions before the fault; stage logs:\n${[...stages.values()].map((s) => `--- ${s.name}\n${s.tail()}`).join('\n')}`);
    log(`${scenario.name}: ${faultAt} decided, injecting the fault`);
    await scenario.fault({ ns, stages, respawn, log });
    const healed = Date.now();
    // Unknown (a service still coming back) counts as "anything after is progress".
    const before = await progress(ns).catch(() => ({ topics: -1, readModel: -1 }));
    log(`${scenario.name}: fault over (decided before: ${JSON.stringify(before)})`);

    const all = options.submissions;
    const recovered = await until(async () => {
      const now = await progress(ns);
      const topicsMoved = before.topics < 0 || now.topics > before.topics || now.readModel >= all;
      const readModelMoved = before.readModel < 0 || now.readModel > before.readModel || now.readModel >= all;
      return topicsMoved && readModelMoved;
    }, healed + deadlineMs, 250);
    const recoverySeconds = recovered ? Math.round((Date.now() - healed) / 100) / 10 : null;
    const drained = await until(async () => (await progress(ns)).readModel >= all, healed + deadlineMs, 1_000);
    const drainSeconds = drained ? Math.round((Date.now() - healed) / 100) / 10 : null;
    log(`${scenario.name}: recovery ${recoverySeconds ?? 'never'} s, drained ${drainSeconds ?? 'never'} s`);

    await flowing;
    const result = await audit(ns, expected);
    return { scenario: scenario.name, submissions: all, recoverySeconds, drainSeconds, ...result };
  } finally {
    await stopStages([...stages.values()], 15_000);
    await scenario.cleanup?.().catch(() => undefined);
    await ns.cleanup();
    await Promise.all([arcgis.close(), soda.close()]);
  }
}

export function formatTable(results: ScenarioResult[]): string {
  const header = '| scenario | submissions | lost | duplicated | stuck | recovery s | drained s |';
  const rule = '|---|---:|---:|---:|---:|---:|---:|';
  const rows = results.map((r) => `| ${r.scenario} | ${r.submissions} | ${r.lost} | ${r.duplicated} | ${r.stuck} | ${r.recoverySeconds ?? 'never'} | ${r.drainSeconds ?? 'never'} |`);
  return [header, rule, ...rows].join('\n');
}
