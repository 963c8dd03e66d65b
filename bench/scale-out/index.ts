/**
 * Scale-out shown: every stage run as separate `permitflow run <stage>` processes, first one
 * instance each, then two each, in one run of this bench, each phase on a namespace of its own
 * with the same workload. Per phase it reports
 *
 *   split         the consumer groups' assignments (describe group): which instance owns which
 *                 partitions of its stage's input, once every instance is ready (/readyz);
 *   exactly-once  each submission exactly once in each state topic it reached (read_committed),
 *                 and every submission decided once (accepted or rejected, never both);
 *   drain         decisions per second, from the first record produced to the N-th decision;
 *   memory        each process's RSS once ready (idle) and its peak (VmHWM) by the end, the
 *                 figures deploy/kubernetes sizes its requests and limits from.
 *
 * Usage: see USAGE below (what --help prints).
 * Needs the local stack (`npx permitflow stack up`); starts the lookup fixture servers itself.
 * Results are printed and written to bench/results/scale-out-<timestamp>.{json,md}.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { AssignerProtocol, type Admin } from 'kafkajs';
import pg from 'pg';
import { parseBenchArgs } from '../args.ts';
import { canonicalPayload } from '../../domain/hashing.ts';
import { createRawProducer } from '../../connectors/raw-topic.ts';
import { readTopic } from '../../connectors/topic-reader.ts';
import { loadConfig, REPO_ROOT, type Config } from '../../lib/config.ts';
import { createKafka } from '../../lib/kafka.ts';
import { createLogger } from '../../lib/logger.ts';
import { createRegistry, createSerde, type Serde } from '../../schemas/serde.ts';
import type { SubmissionEnvelope, SubmissionRejected } from '../../schemas/types.ts';
import { applyTopology } from '../../topology/apply.ts';
import { buildTopology, PROCESSORS, type ProcessorId, type TopicId, type Topology } from '../../topology/topics.ts';
import { startArcgisFixture } from '../../test/fixtures/lookups/arcgis-server.ts';
import { lookupsEnv } from '../../test/fixtures/lookups/harness.ts';
import { startSodaFixture } from '../../test/fixtures/lookups/soda-server.ts';
import { waitFor } from '../../test/support/pipeline.ts';
import { freePort } from '../../test/support/ports.ts';
import { sampleApplications } from '../../test/support/samples.ts';

const USAGE = 'Usage: node --import tsx bench/scale-out/index.ts [--records 3000] [--partitions 6]';

const { values: args } = parseBenchArgs('scale-out', USAGE, { options: { records: { type: 'string', default: '3000' }, partitions: { type: 'string', default: '6' } } });
const RECORDS = Number(args.records);
const PARTITIONS = Number(args.partitions);
const STAGES = Object.keys(PROCESSORS) as ProcessorId[];
const STATE_TOPICS: TopicId[] = ['received', 'chunked', 'enriched', 'validated', 'accepted', 'rejected'];
const logger = createLogger({ level: 'warn' });

interface Instance {
  stage: ProcessorId;
  workerId: string;
  child: ChildProcess;
  metricsPort: number;
  tail: string[];
}

function rssMb(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const match = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Math.round(Number(match[1]) / 1024) : 0;
}

/** `node bin/permitflow.js run <stage>`: the signal-safe entry the units and manifests use. */
async function startInstance(stage: ProcessorId, n: number, env: Record<string, string>): Promise<Instance> {
  const metricsPort = await freePort();
  const workerId = `scale-${stage}-${n}`;
  const child = spawn(process.execPath, [join(REPO_ROOT, 'bin/permitflow.js'), 'run', stage], {
    // The client id names the instance in the group description.
    env: { ...process.env, ...env, METRICS_PORT: String(metricsPort), PERMITFLOW_WORKER_ID: workerId, KAFKA_CLIENT_ID: workerId },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const tail: string[] = [];
  const keep = (d: Buffer) => {
    tail.push(...d.toString().split('\n').filter(Boolean));
    tail.splice(0, Math.max(0, tail.length - 30));
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  return { stage, workerId, child, metricsPort, tail };
}

function alive(instance: Instance): void {
  if (instance.child.exitCode !== null || instance.child.signalCode !== null) {
    throw new Error(`${instance.workerId} exited (${instance.child.exitCode ?? instance.child.signalCode}); its last lines:\n${instance.tail.join('\n')}`);
  }
}

async function stopAll(instances: Instance[]): Promise<void> {
  await Promise.all(
    instances.map(async (i) => {
      if (i.child.exitCode !== null || i.child.signalCode !== null) return;
      const exited = once(i.child, 'exit');
      i.child.kill('SIGTERM');
      if (!(await Promise.race([exited.then(() => true), sleep(30_000).then(() => false)]))) {
        i.child.kill('SIGKILL');
        await exited;
      }
    }),
  );
}

/** Which partitions of which topics each member of `group` owns, by worker id (the client id carries it). */
async function assignments(admin: Admin, group: string): Promise<{ state: string; members: Array<{ clientId: string; partitions: Record<string, number[]> }> }> {
  const { groups } = await admin.describeGroups([group]);
  const g = groups[0]!;
  return {
    state: g.state,
    members: g.members.map((m) => ({ clientId: m.clientId, partitions: AssignerProtocol.MemberAssignment.decode(m.memberAssignment)?.assignment ?? {} })),
  };
}

function envelopes(count: number, prefix: string): SubmissionEnvelope[] {
  const apps = sampleApplications().filter((a) => a.site?.parcelNumber);
  return Array.from({ length: count }, (_, i) => {
    const base = apps[i % apps.length]!;
    const payload = canonicalPayload({ ...structuredClone(base), sourceReference: `${prefix}-${i}`, description: `${base.description} (variant ${i})` });
    return {
      submissionHash: payload.hash,
      source: 'bench',
      sourceClient: null,
      sourceReference: `${prefix}-${i}`,
      receivedAt: Date.now(),
      payload: { contentType: 'application/json', size: payload.bytes.length, sha256: payload.hash, inline: payload.bytes, objectKey: null },
      attachments: [],
      traceparent: null,
    };
  });
}

interface PhaseResult {
  instancesPerStage: number;
  records: number;
  drainSeconds: number;
  decisionsPerSecond: number;
  split: Record<string, Record<string, string>>;
  exactlyOnce: Record<string, { records: number; distinct: number }>;
  decidedTwice: number;
  /** Rejections by their first reason's code: what the stages decided, so the work was real. */
  rejectionCodes: Record<string, number>;
  rssMb: Record<string, { idle: number; peak: number }>;
  loadAverage: number;
}

async function phase(instancesPerStage: number, baseEnv: Record<string, string>): Promise<PhaseResult> {
  const namespace = `scale${randomBytes(4).toString('hex')}`;
  const schema = `scale_${randomBytes(4).toString('hex')}`;
  const env = { ...baseEnv, PERMITFLOW_TOPIC_NAMESPACE: namespace, READ_MODEL_SCHEMA: schema };
  const config: Config = loadConfig({ ...process.env, ...env });
  const topology: Topology = buildTopology(config.topology);
  const kafka = createKafka(config, logger);
  const serde: Serde = createSerde(createRegistry(config));
  const admin = kafka.admin();
  await admin.connect();
  await applyTopology(topology, admin, serde);
  const instances: Instance[] = [];
  const counter = kafka.consumer({ groupId: `${namespace}.bench-counter`, readUncommitted: false });
  try {
    for (const stage of STAGES) for (let n = 1; n <= instancesPerStage; n++) instances.push(await startInstance(stage, n, env));
    // Ready = every instance's stage has joined its group; then the groups must have settled.
    await waitFor(
      'every instance ready (/readyz)',
      async () => {
        instances.forEach(alive);
        const answers = await Promise.all(instances.map((i) => fetch(`http://127.0.0.1:${i.metricsPort}/readyz`).then((r) => r.status, () => 0)));
        return answers.every((s) => s === 200);
      },
      180_000,
      500,
    );
    await waitFor(
      'every group stable with all its instances',
      async () => {
        const all = await Promise.all(STAGES.map((s) => assignments(admin, topology.group(s))));
        return all.every((a) => a.state === 'Stable' && a.members.length === instancesPerStage);
      },
      120_000,
      500,
    );
    const rss: PhaseResult['rssMb'] = {};
    for (const i of instances) rss[i.workerId] = { idle: rssMb(i.child.pid!, 'VmRSS'), peak: 0 };

    // Decisions counted as they commit (read_committed), by submission.
    const decided = new Map<string, number>();
    await counter.connect();
    await counter.subscribe({ topics: [topology.topics.accepted.name, topology.topics.rejected.name], fromBeginning: true });
    await counter.run({
      eachMessage: ({ message }) => {
        const key = message.key?.toString() ?? '';
        decided.set(key, (decided.get(key) ?? 0) + 1);
        return Promise.resolve();
      },
    });

    const workload = envelopes(RECORDS, namespace);
    const producer = await createRawProducer(kafka, serde, topology.topics.raw);
    const started = Date.now();
    try {
      for (let from = 0; from < workload.length; from += 500) await producer.send(workload.slice(from, from + 500));
    } finally {
      await producer.close();
    }
    await waitFor(
      `${RECORDS} decisions`,
      () => {
        instances.forEach(alive);
        return decided.size >= RECORDS;
      },
      600_000,
      100,
    );
    const drainSeconds = (Date.now() - started) / 1000;
    const loadAverage = loadavg()[0]!;

    const split: PhaseResult['split'] = {};
    for (const stage of STAGES) {
      const input = topology.topics[PROCESSORS[stage].inputs[0]].name;
      const { members } = await assignments(admin, topology.group(stage));
      split[stage] = Object.fromEntries(members.map((m) => [m.clientId, (m.partitions[input] ?? []).sort((a, b) => a - b).join(',')]));
    }
    for (const i of instances) rss[i.workerId]!.peak = rssMb(i.child.pid!, 'VmHWM');

    const exactlyOnce: PhaseResult['exactlyOnce'] = {};
    const rejectionCodes: Record<string, number> = {};
    for (const id of STATE_TOPICS) {
      const records = await readTopic<unknown>(kafka, serde, topology.topics[id], { timeoutMs: 120_000 });
      exactlyOnce[id] = { records: records.length, distinct: new Set(records.map((r) => r.key)).size };
      if (id !== 'rejected') continue;
      for (const r of records) {
        const code = (r.value as SubmissionRejected).reasons[0]?.code ?? 'none';
        rejectionCodes[code] = (rejectionCodes[code] ?? 0) + 1;
      }
    }
    return {
      instancesPerStage,
      records: RECORDS,
      drainSeconds,
      decisionsPerSecond: Math.round(RECORDS / drainSeconds),
      split,
      exactlyOnce,
      decidedTwice: [...decided.values()].filter((n) => n > 1).length,
      rejectionCodes,
      rssMb: rss,
      loadAverage,
    };
  } finally {
    await counter.disconnect().catch(() => undefined);
    await stopAll(instances);
    const existing = new Set(await admin.listTopics());
    const names = [...Object.values(topology.topics).map((t) => t.name), ...topology.changelogs.map((c) => c.name)].filter((n) => existing.has(n));
    await admin.deleteTopics({ topics: names }).catch(() => undefined);
    await admin.disconnect();
    const db = new pg.Client({ connectionString: config.database.url });
    await db.connect().then(() => db.query(`drop schema if exists "${schema}" cascade`)).catch(() => undefined);
    await db.end().catch(() => undefined);
  }
}

function check(result: PhaseResult): string[] {
  const problems: string[] = [];
  for (const [topic, { records, distinct }] of Object.entries(result.exactlyOnce)) {
    if (records !== distinct) problems.push(`${topic}: ${records - distinct} duplicate records`);
  }
  for (const topic of ['received', 'chunked', 'enriched', 'validated']) {
    if (result.exactlyOnce[topic]!.distinct !== result.records) problems.push(`${topic}: ${result.exactlyOnce[topic]!.distinct} of ${result.records} submissions`);
  }
  const decisions = result.exactlyOnce.accepted!.distinct + result.exactlyOnce.rejected!.distinct;
  if (decisions !== result.records || result.decidedTwice > 0) problems.push(`decisions: ${decisions} for ${result.records} submissions, ${result.decidedTwice} decided twice`);
  if (result.instancesPerStage > 1) {
    for (const [stage, owners] of Object.entries(result.split)) {
      const owned = Object.values(owners).filter((p) => p !== '');
      if (owned.length < result.instancesPerStage) problems.push(`${stage}: partitions not split (${JSON.stringify(owners)})`);
    }
  }
  return problems;
}

function markdown(results: PhaseResult[], problems: string[]): string {
  const [one, two] = results;
  const lines = [
    `# bench/scale-out, ${new Date().toISOString()}`,
    '',
    `${RECORDS} distinct applications per phase, ${PARTITIONS} partitions, every stage as separate \`node bin/permitflow.js run <stage>\` processes; ${cpus().length} cores; Node ${process.versions.node}.`,
    '',
    '| instances per stage | processes | drain s | decisions/s | load avg (1 min) at the end |',
    '|---|---|---|---|---|',
    ...results.map((r) => `| ${r.instancesPerStage} | ${r.instancesPerStage * STAGES.length} | ${r.drainSeconds.toFixed(1)} | ${r.decisionsPerSecond} | ${r.loadAverage.toFixed(1)} |`),
    '',
    one && two ? `Two instances per stage drain at ${(two.decisionsPerSecond / one.decisionsPerSecond).toFixed(2)}x the rate of one.` : '',
    '',
    '## Partition split (input topic partitions per instance, two instances per stage)',
    '',
    '| stage | instance: partitions |',
    '|---|---|',
    ...Object.entries(two?.split ?? {}).map(([stage, owners]) => `| ${stage} | ${Object.entries(owners).map(([c, p]) => `${c}: ${p || '-'}`).join('; ')} |`),
    '',
    '## Exactly once (records / distinct submissions per state topic, read_committed)',
    '',
    `| instances | ${STATE_TOPICS.join(' | ')} |`,
    `|---|${STATE_TOPICS.map(() => '---').join('|')}|`,
    ...results.map((r) => `| ${r.instancesPerStage} | ${STATE_TOPICS.map((t) => `${r.exactlyOnce[t]!.records} / ${r.exactlyOnce[t]!.distinct}`).join(' | ')} |`),
    '',
    `Rejections by first reason: ${results.map((r) => `${r.instancesPerStage} per stage ${JSON.stringify(r.rejectionCodes)}`).join('; ')}.`,
    '',
    '## RSS per process (MB): idle once ready / peak by the end',
    '',
    '| process | idle | peak |',
    '|---|---|---|',
    ...results.flatMap((r) => Object.entries(r.rssMb).map(([w, m]) => `| ${w} (${r.instancesPerStage} per stage) | ${m.idle} | ${m.peak} |`)),
    '',
    problems.length ? `## Problems\n\n${problems.map((p) => `- ${p}`).join('\n')}` : 'No problem: every check held.',
  ];
  return lines.join('\n');
}

async function main(): Promise<void> {
  const arcgis = await startArcgisFixture();
  const soda = await startSodaFixture();
  const baseEnv: Record<string, string> = {
    LOG_LEVEL: 'warn',
    PERMITFLOW_PARTITIONS: String(PARTITIONS),
    // Small windows, so batches close on count during the drain instead of waiting for their age.
    WINDOW_MAX_COUNT: '50',
    WINDOW_MAX_AGE_MS: '1000',
    PERMITFLOW_SESSION_TIMEOUT_MS: '10000',
    ...lookupsEnv(arcgis.origin, soda.origin),
    LOOKUPS_REDIS_PREFIX: `permitflow:bench:${randomBytes(4).toString('hex')}:`,
    LOOKUPS_PARCELS_RATE_LIMIT: '10000',
    LOOKUPS_ZONING_RATE_LIMIT: '10000',
    LOOKUPS_OVERLAYS_RATE_LIMIT: '10000',
    LOOKUPS_HISTORY_RATE_LIMIT: '10000',
  };
  const results: PhaseResult[] = [];
  try {
    for (const n of [1, 2]) {
      console.error(`scale-out: ${n} instance(s) per stage, ${RECORDS} records`);
      results.push(await phase(n, baseEnv));
      console.error(`  ${results.at(-1)!.decisionsPerSecond} decisions/s`);
    }
  } finally {
    await arcgis.close();
    await soda.close();
  }
  const problems = results.flatMap((r) => check(r).map((p) => `${r.instancesPerStage} per stage: ${p}`));
  const report = markdown(results, problems);
  console.log(report);
  const stamp = new Date().toISOString().replaceAll(':', '-').replace('.', '-');
  mkdirSync(join(REPO_ROOT, 'bench', 'results'), { recursive: true });
  writeFileSync(join(REPO_ROOT, 'bench', 'results', `scale-out-${stamp}.json`), `${JSON.stringify(results, null, 2)}\n`);
  writeFileSync(join(REPO_ROOT, 'bench', 'results', `scale-out-${stamp}.md`), `${report}\n`);
  if (problems.length) process.exitCode = 1;
}

await main();
