/**
 * What a chaos run needs around the stages: a namespace of its own on the private stack
 * (topics, registry subjects, a read-model schema; removed afterwards), N distinct fixture
 * applications on the raw topic, and the stage processes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { canonicalPayload } from '../../domain/hashing.ts';
import { createRawProducer } from '../../connectors/raw-topic.ts';
import { quoteIdent } from '../../connectors/read-model/migrate.ts';
import { createReadModelPool } from '../../connectors/read-model/pool.ts';
import { loadConfig, REPO_ROOT, type Config } from '../../lib/config.ts';
import { createKafka } from '../../lib/kafka.ts';
import { createLogger } from '../../lib/logger.ts';
import { createRegistry, createSerde } from '../../schemas/serde.ts';
import type { PermitApplication, SubmissionEnvelope } from '../../schemas/types.ts';
import { applyTopology } from '../../topology/apply.ts';
import { buildTopology, type Topology } from '../../topology/topics.ts';
import { sampleApplications } from '../support/samples.ts';

const logger = createLogger({ level: 'warn' });

export interface Namespace {
  /** Variables that point a stage process at the namespace. */
  env: Record<string, string>;
  config: Config;
  topology: Topology;
  pool: pg.Pool;
  cleanup(): Promise<void>;
}

export async function createNamespace(extraEnv: Record<string, string>): Promise<Namespace> {
  const id = randomBytes(4).toString('hex');
  const env = { PERMITFLOW_TOPIC_NAMESPACE: `chaos${id}`, PERMITFLOW_PARTITIONS: '6', READ_MODEL_SCHEMA: `chaos_${id}`, LOG_LEVEL: 'warn', ...extraEnv };
  const config = loadConfig({ ...process.env, ...env });
  const topology = buildTopology(config.topology);
  const admin = createKafka(config, logger).admin();
  await admin.connect();
  try {
    await applyTopology(topology, admin, createSerde(createRegistry(config)));
  } finally {
    await admin.disconnect();
  }
  const pool = createReadModelPool(config, { applicationName: 'permitflow-chaos', max: 2 });
  return {
    env,
    config,
    topology,
    pool,
    async cleanup() {
      await pool.query(`DROP SCHEMA IF EXISTS ${quoteIdent(config.readModel.schema)} CASCADE`).catch(() => undefined);
      await pool.end();
      const cleaner = createKafka(config, logger).admin();
      await cleaner.connect();
      try {
        // Only topics that exist: kafkajs retries a deletion naming a missing topic for a minute.
        const existing = new Set(await cleaner.listTopics());
        const names = [...Object.values(topology.topics).map((t) => t.name), ...topology.changelogs.map((c) => c.name)].filter((n) => existing.has(n));
        if (names.length > 0) await cleaner.deleteTopics({ topics: names, timeout: 60_000 }).catch(() => undefined);
      } finally {
        await cleaner.disconnect();
      }
    },
  };
}

/** The sample applications with a parcel number (the ones the county's parcel fixture knows), varied by index. */
export function application(i: number): PermitApplication {
  const apps = sampleApplications().filter((a) => a.site?.parcelNumber);
  const base = apps[i % apps.length]!;
  return { ...structuredClone(base), sourceReference: `CHAOS-${String(i).padStart(8, '0')}`, description: `${base.description} (variant ${i})` };
}

export const hashOf = (i: number): string => canonicalPayload(application(i)).hash;

/**
 * Produces `count` distinct applications onto the raw topic, 500 per request, or `perSecond`
 * a second (a steady flow, so a fault lands on every stage while submissions still arrive).
 * A send that fails (the broker is down) is retried until it succeeds: the raw producer is
 * idempotent.
 */
export async function produceApplications(config: Config, topology: Topology, count: number, perSecond?: number): Promise<string[]> {
  const producer = await createRawProducer(createKafka(config, logger), createSerde(createRegistry(config)), topology.topics.raw);
  const hashes: string[] = [];
  const step = perSecond ?? 500;
  const started = Date.now();
  try {
    for (let from = 0; from < count; from += step) {
      if (perSecond !== undefined) await sleep(Math.max(0, started + (from / perSecond) * 1000 - Date.now()));
      const slice: SubmissionEnvelope[] = [];
      for (let i = from; i < Math.min(count, from + step); i++) {
        const payload = canonicalPayload(application(i));
        hashes.push(payload.hash);
        slice.push({
          submissionHash: payload.hash,
          source: 'chaos',
          sourceClient: null,
          sourceReference: `CHAOS-${i}`,
          receivedAt: Date.now(),
          payload: { contentType: 'application/json', size: payload.bytes.length, sha256: payload.hash, inline: payload.bytes, objectKey: null },
          attachments: [],
          traceparent: null,
        });
      }
      for (;;) {
        try {
          await producer.send(slice);
          break;
        } catch (err) {
          if (perSecond === undefined) throw err;
          await sleep(1_000);
        }
      }
    }
  } finally {
    await producer.close();
  }
  return hashes;
}

/** Stage processes alive now: killed with the harness when it is interrupted. */
const live = new Set<ChildProcess>();

/** SIGKILLs every stage process this harness started (an interrupted run must not leave any). */
export function killAllStages(): void {
  for (const child of live) child.kill('SIGKILL');
}

export interface StageProcess {
  name: string;
  child: ChildProcess;
  /** The last lines it printed (for a failure message). */
  tail(): string;
}

/**
 * `permitflow run <stage>` as a child process; no metrics endpoint (several would want one port).
 * `onExit` hears of a failed exit (not by a signal, not 0 after SIGTERM), with the last lines.
 * `logFile`: everything it prints is appended there too (to follow a run afterwards).
 */
export function spawnStage(name: string, env: Record<string, string>, onExit?: (line: string) => void, logFile?: string): StageProcess {
  const child = spawn(process.execPath, [join(REPO_ROOT, 'bin/permitflow.js'), 'run', name], {
    env: { ...process.env, ...env, METRICS_PORT: '0', PERMITFLOW_WORKER_ID: `chaos-${name}-${randomBytes(2).toString('hex')}` },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const keep = (d: Buffer) => {
    lines.push(...d.toString().split('\n').filter(Boolean));
    if (lines.length > 40) lines.splice(0, lines.length - 40);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  if (logFile) {
    const file = createWriteStream(logFile, { flags: 'a' });
    child.stdout.pipe(file, { end: false });
    child.stderr.pipe(file, { end: false });
    child.on('close', () => file.end());
  }
  live.add(child);
  child.on('exit', (code) => {
    live.delete(child);
    if (code !== null && code !== 0) onExit?.(`${name} exited by itself with code ${code}; its last lines:\n${lines.slice(-15).join('\n')}`);
  });
  return { name, child, tail: () => lines.join('\n') };
}

/** SIGKILLs a stage process and waits for its exit. */
export async function killStage(stage: StageProcess): Promise<void> {
  if (stage.child.exitCode !== null || stage.child.signalCode !== null) return;
  const exited = once(stage.child, 'exit');
  stage.child.kill('SIGKILL');
  await exited;
}

/** SIGTERM (finish the batch in hand, leave the group), SIGKILL after the grace period. */
export async function stopStages(stages: StageProcess[], graceMs: number): Promise<void> {
  await Promise.all(
    stages.map(async (s) => {
      if (s.child.exitCode !== null || s.child.signalCode !== null) return;
      const exited = once(s.child, 'exit');
      s.child.kill('SIGTERM');
      if (!(await Promise.race([exited.then(() => true), sleep(graceMs).then(() => false)]))) await killStage(s);
    }),
  );
}
