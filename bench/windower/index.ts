/**
 * Windower benchmarks, on the running local stack, each reported as a ratio in one run:
 *
 *   throughput  the windower (transactions, dedup, changelogs, batch archives) on the runtime's
 *               client (KAFKA_CLIENT) vs a plain kafkajs consume-produce passthrough without
 *               transactions, over the same topic and records, each timed from its first record
 *               (start-up excluded) (goal: windower at least 50% of passthrough); with the
 *               CPU-seconds of each and the load average before and after. A second reference,
 *               the same passthrough writing each record to three topics, is the windower's
 *               output count without its work: it writes `received`, `chunked` and a
 *               `seen-hashes` changelog record per input;
 *   memory      RSS of a windower process that restored one million hashes into its dedup
 *               horizon, vs the same process with an empty horizon (goal: under 300 MB).
 *
 * Usage: see USAGE below (what --help prints).
 * Results are printed and written to bench/results/windower-<timestamp>.json.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { Partitioners, type Kafka } from 'kafkajs';
import { parseBenchArgs } from '../args.ts';
import { loadConfig, REPO_ROOT, type Config } from '../../lib/config.ts';
import { createKafka } from '../../lib/kafka.ts';
import { createLogger } from '../../lib/logger.ts';
import { startProcessors } from '../../cli/processors.ts';
import { runtimeMetrics } from '../../processors/runtime/metrics.ts';
import { int64Codec } from '../../processors/runtime/stores.ts';
import { createRegistry, createSerde } from '../../schemas/serde.ts';
import { applyTopology } from '../../topology/apply.ts';
import { buildTopology, type Topology } from '../../topology/topics.ts';
import { produceSubmissions } from '../../test/support/pipeline.ts';

const USAGE = 'Usage: node --import tsx bench/windower/index.ts [throughput|memory|all] [--records N] [--hashes N]';

const logger = createLogger({ level: 'warn' });

async function setup(extra: Record<string, string> = {}): Promise<{ config: Config; topology: Topology; kafka: Kafka; env: Record<string, string> }> {
  const env = { PERMITFLOW_TOPIC_NAMESPACE: `bench${randomBytes(4).toString('hex')}`, PERMITFLOW_PARTITIONS: '6', LOG_LEVEL: 'warn', ...extra };
  const config = loadConfig({ ...process.env, ...env });
  const topology = buildTopology(config.topology);
  const kafka = createKafka(config, logger);
  const admin = kafka.admin();
  await admin.connect();
  await applyTopology(topology, admin, createSerde(createRegistry(config)));
  await admin.disconnect();
  return { config, topology, kafka, env };
}

async function cleanup(kafka: Kafka, topology: Topology, extra: string[] = []): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  await admin.deleteTopics({ topics: [...Object.values(topology.topics).map((t) => t.name), ...topology.changelogs.map((c) => c.name), ...extra] }).catch(() => undefined);
  await admin.disconnect();
}

/** Records per second and CPU-seconds of this process (every thread), both from the first record to the last. */
interface Steady {
  perSecond: number;
  cpuSeconds: number;
}

const cpuNow = (): number => {
  const used = process.cpuUsage();
  return (used.user + used.system) / 1e6;
};

/** The topics a passthrough writing `copies` records per input writes to (removed with the namespace). */
const passthroughTopics = (topology: Topology, copies: number): string[] =>
  Array.from({ length: copies }, (_, i) => `${topology.options.namespace}.bench.passthrough${copies}.${i}`);

/** Plain kafkajs: consume the raw topic and produce every record to `copies` other topics, no transactions. */
async function passthrough(kafka: Kafka, topology: Topology, records: number, copies: number): Promise<Steady> {
  const outputs = passthroughTopics(topology, copies);
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: outputs.map((topic) => ({ topic, numPartitions: topology.options.partitions, replicationFactor: 1 })), waitForLeaders: true });
  await admin.disconnect();
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const consumer = kafka.consumer({ groupId: `${topology.options.namespace}.bench.passthrough${copies}` });
  await consumer.connect();
  await consumer.subscribe({ topic: topology.topics.raw.name, fromBeginning: true });
  let produced = 0;
  let started = 0;
  let cpuAtStart = 0;
  await new Promise<void>((resolve, reject) => {
    consumer
      .run({
        partitionsConsumedConcurrently: 3,
        eachBatch: async ({ batch }) => {
          if (!started) [started, cpuAtStart] = [Date.now(), cpuNow()];
          const messages = batch.messages.map((m) => ({ key: m.key, value: m.value, partition: batch.partition }));
          await producer.sendBatch({ acks: -1, topicMessages: outputs.map((topic) => ({ topic, messages })) });
          produced += batch.messages.length;
          if (produced >= records) resolve();
        },
      })
      .catch(reject);
  });
  const seconds = (Date.now() - started) / 1000;
  const cpuSeconds = cpuNow() - cpuAtStart;
  await consumer.disconnect();
  await producer.disconnect();
  return { perSecond: records / seconds, cpuSeconds };
}

/** The windower in this process, from the start of the raw topic until every record is handled and committed. */
async function windower(config: Config, topology: Topology, kafka: Kafka, records: number): Promise<Steady> {
  const before = (await runtimeMetrics.recordsIn.get()).values.reduce((n, v) => n + v.value, 0);
  let started = 0;
  let cpuAtStart = 0;
  const processors = await startProcessors({ ...config, workerId: 'bench' }, ['windower'], logger);
  const admin = kafka.admin();
  await admin.connect();
  for (;;) {
    const handled = (await runtimeMetrics.recordsIn.get()).values.reduce((n, v) => n + v.value, 0) - before;
    // Steady-state throughput: from the first record handled (group join and restore excluded).
    if (handled > 0 && !started) [started, cpuAtStart] = [Date.now(), cpuNow()];
    if (handled >= records) {
      const [committed] = await admin.fetchOffsets({ groupId: topology.group('windower'), topics: [topology.topics.raw.name] });
      const ends = await admin.fetchTopicOffsets(topology.topics.raw.name);
      const lag = ends.reduce((n, e) => n + Number(e.high) - Number(committed?.partitions.find((p) => p.partition === e.partition)?.offset ?? 0), 0);
      if (lag <= 0) break;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const seconds = (Date.now() - started) / 1000;
  const cpuSeconds = cpuNow() - cpuAtStart;
  await admin.disconnect();
  await processors.stop();
  return { perSecond: records / seconds, cpuSeconds };
}

async function throughput(records: number): Promise<Record<string, unknown>> {
  const { config, topology, kafka } = await setup({ WINDOW_MAX_COUNT: '500', WINDOW_MAX_AGE_MS: '60000' });
  try {
    await produceSubmissions(config, topology, records, 0, 1000);
    // CPU-seconds of this process per phase (start-up included; the broker's not): steadier than wall time on a busy machine.
    const cpuSeconds = async <T>(phase: () => Promise<T>): Promise<[T, number]> => {
      const before = process.cpuUsage();
      const rate = await phase();
      const used = process.cpuUsage(before);
      return [rate, (used.user + used.system) / 1e6];
    };
    const loadBefore = loadavg()[0]!;
    const [plain, plainCpu] = await cpuSeconds(() => passthrough(kafka, topology, records, 1));
    const [triple] = await cpuSeconds(() => passthrough(kafka, topology, records, 3));
    const [windowed, windowedCpu] = await cpuSeconds(() => windower(config, topology, kafka, records));
    const per1000 = (cpu: number) => Number(((cpu * 1000) / records).toFixed(3));
    return {
      client: config.kafka.client,
      records,
      passthroughPerSecond: Math.round(plain.perSecond),
      passthrough3PerSecond: Math.round(triple.perSecond),
      windowerPerSecond: Math.round(windowed.perSecond),
      ratio: Number((windowed.perSecond / plain.perSecond).toFixed(2)),
      // What writing three records per input costs on its own, and the windower against that.
      passthrough3Ratio: Number((triple.perSecond / plain.perSecond).toFixed(2)),
      ratioToPassthrough3: Number((windowed.perSecond / triple.perSecond).toFixed(2)),
      passthroughCpuSeconds: Number(plainCpu.toFixed(1)),
      windowerCpuSeconds: Number(windowedCpu.toFixed(1)),
      // From the first record to the last (start-up, group join and restore excluded), every thread of the process.
      passthroughCpuSecondsPer1000: per1000(plain.cpuSeconds),
      passthrough3CpuSecondsPer1000: per1000(triple.cpuSeconds),
      windowerCpuSecondsPer1000: per1000(windowed.cpuSeconds),
      loadAverage1m: [Number(loadBefore.toFixed(1)), Number(loadavg()[0]!.toFixed(1))],
    };
  } finally {
    await cleanup(kafka, topology, [...passthroughTopics(topology, 1), ...passthroughTopics(topology, 3)]);
  }
}

/** RSS and peak RSS (VmRSS, VmHWM; MB) of `permitflow run windower` once every partition has restored its state. */
async function windowerProcessRss(env: Record<string, string>, partitions: number): Promise<{ rss: number; peak: number }> {
  const child = spawn(process.execPath, [join(REPO_ROOT, 'bin/permitflow.js'), 'run', 'windower'], { env: { ...process.env, ...env, LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'inherit'] });
  let ready = 0;
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      ready += d.toString().split('\n').filter((line) => line.includes('"partition ready"')).length;
      if (ready >= partitions) resolve();
    });
    child.once('exit', (code) => reject(new Error(`windower exited with ${code} before restoring`)));
  });
  // Let the restore's garbage be collected before reading the resident size.
  await new Promise((resolve) => setTimeout(resolve, 5_000));
  const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
  const mb = (field: string) => Math.round(Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0) / 1024);
  child.kill('SIGTERM');
  return { rss: mb('VmRSS'), peak: mb('VmHWM') };
}

async function memory(hashes: number): Promise<Record<string, number>> {
  const { config, topology, kafka, env } = await setup();
  try {
    const empty = await windowerProcessRss(env, config.topology.partitions);
    // Fill the seen-hashes changelog directly: what a windower would have written for `hashes` submissions.
    const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    const changelog = topology.changelog('windower', 'seen-hashes');
    for (let i = 0; i < hashes; i += 10_000) {
      const messages = Array.from({ length: Math.min(10_000, hashes - i) }, (_, j) => ({ key: randomBytes(32).toString('hex'), value: int64Codec.encode(i + j) }));
      await producer.send({ topic: changelog, messages });
    }
    await producer.disconnect();
    const full = await windowerProcessRss(env, config.topology.partitions);
    return {
      hashes,
      rssEmptyMb: empty.rss,
      rssWithHashesMb: full.rss,
      peakRssWithHashesMb: full.peak,
      bytesPerHash: Math.round(((full.rss - empty.rss) * 1024 * 1024) / hashes),
    };
  } finally {
    await cleanup(kafka, topology);
  }
}

const { values, positionals } = parseBenchArgs('windower', USAGE, { allowPositionals: true, options: { records: { type: 'string', default: '30000' }, hashes: { type: 'string', default: '1000000' } } });
const which = positionals[0] ?? 'all';
const results: Record<string, unknown> = { at: new Date().toISOString() };
if (which === 'throughput' || which === 'all') results.throughput = await throughput(Number(values.records));
if (which === 'memory' || which === 'all') results.memory = await memory(Number(values.hashes));
console.log(JSON.stringify(results, null, 2));
mkdirSync(join(REPO_ROOT, 'bench/results'), { recursive: true });
writeFileSync(join(REPO_ROOT, `bench/results/windower-${Date.now()}.json`), JSON.stringify(results, null, 2));
process.exit(0);
