/**
 * Archiver throughput on the running local stack, as a ratio measured in one run:
 *
 *   archiver   records/s from its first segment write until every record is in the archive
 *              (decode, JSON Lines, gzip, SHA-256, two conditional puts per segment); start-up
 *              (group join, reading each partition's end of the archive) reported apart;
 *   consume    a plain kafkajs consumer reading the same records to the end (read_committed),
 *              nothing written: what the broker alone gives one process.
 *
 * The records are the windower's real output (received, chunked, batch manifests) for
 * `--submissions` synthetic submissions, in a namespace of its own, removed afterwards (the
 * audit objects stay: the bucket is object-locked).
 *
 * Usage: see USAGE below (what --help prints).
 * Results are printed and written to bench/results/archiver-<timestamp>.{json,md}.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { loadavg } from 'node:os';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseBenchArgs } from '../args.ts';
import { createAuditStore } from '../../connectors/audit/store.ts';
import { runArchiver } from '../../connectors/audit/archiver.ts';
import { parseManifest, parseManifestKey } from '../../connectors/audit/segment.ts';
import { archiveChains } from '../../connectors/audit/verify.ts';
import { signingKey } from '../../connectors/audit/roots.ts';
import { startProcessors } from '../../cli/processors.ts';
import { loadConfig, REPO_ROOT } from '../../lib/config.ts';
import { createKafka } from '../../lib/kafka.ts';
import { createLogger } from '../../lib/logger.ts';
import { createRegistry, createSerde } from '../../schemas/serde.ts';
import { applyTopology } from '../../topology/apply.ts';
import { buildTopology } from '../../topology/topics.ts';
import { produceSubmissions } from '../../test/support/pipeline.ts';

const USAGE = 'Usage: node --import tsx bench/archiver/index.ts [--submissions 20000] [--segment-records 1000]';

const { values } = parseBenchArgs('archiver', USAGE, { options: { submissions: { type: 'string', default: '20000' }, 'segment-records': { type: 'string', default: '1000' } } });
const submissions = Number(values.submissions);
const logger = createLogger({ level: process.env.BENCH_LOG_LEVEL ?? 'warn' });
const env = { PERMITFLOW_TOPIC_NAMESPACE: `bench${randomBytes(4).toString('hex')}`, PERMITFLOW_PARTITIONS: '6', LOG_LEVEL: 'warn', WINDOW_MAX_COUNT: '500', WINDOW_MAX_AGE_MS: '1000', AUDIT_SEGMENT_MAX_RECORDS: values['segment-records'], AUDIT_SEGMENT_MAX_AGE_MS: '2000' };
const config = loadConfig({ ...process.env, ...env });
const topology = buildTopology(config.topology);
const kafka = createKafka(config, logger);
const serde = createSerde(createRegistry(config));
const admin = kafka.admin();
await admin.connect();
await applyTopology(topology, admin, serde);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const chains = archiveChains(topology);
const topics = [...new Set(chains.map((c) => c.topic))];
const ends = async () => {
  let n = 0;
  for (const t of topics) n += (await admin.fetchTopicOffsets(t)).reduce((s, o) => s + Number(o.high), 0);
  return n;
};

try {
  // The windower's output, the archiver's input.
  await produceSubmissions(config, topology, submissions);
  const windower = await startProcessors(config, ['windower'], logger);
  await windower.started;
  const chunked = topology.topics.chunked.name;
  for (let last = -1; ; ) {
    await sleep(2000);
    const now = (await admin.fetchTopicOffsets(chunked)).reduce((s, o) => s + Number(o.high), 0);
    if (now >= submissions && now === last) break;
    last = now;
  }
  await windower.stop();
  const endOffsets = await ends();

  // Reference: a plain consumer reading every archived topic to its end.
  const groupId = `bench.consume.${randomUUID()}`;
  const consumer = kafka.consumer({ groupId, readUncommitted: false, maxBytesPerPartition: config.runtime.maxBytesPerPartition });
  let consumed = 0;
  let consumeStart = 0;
  const positions = new Map<string, number>();
  await consumer.connect();
  for (const t of topics) await consumer.subscribe({ topic: t, fromBeginning: true });
  const consumeDone = new Promise<void>((resolve) => {
    consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
      positions.set(`${payload.topic}/${payload.partition}`, Number(payload.lastOffset) + 1);
      if ([...positions.values()].reduce((a, b) => a + b, 0) >= endOffsets) resolve();
    });
  });
  await consumer.run({
    eachBatch: async ({ batch }) => {
      consumeStart ||= Date.now();
      consumed += batch.messages.length;
      await Promise.resolve();
    },
  });
  await consumeDone;
  const consumeSeconds = (Date.now() - consumeStart) / 1000;
  await consumer.disconnect();
  await admin.deleteGroups([groupId]).catch(() => undefined);

  // The archiver, timed from its first segment to the last record archived.
  const store = createAuditStore(config);
  const archiver = runArchiver({ kafka, serde, store, topology, logger, signingKey: signingKey(config), workerId: 'bench', segment: config.audit.segment, sealIntervalMs: config.audit.sealIntervalMs, ...config.runtime });
  const cpuBefore = process.cpuUsage();
  let first = 0;
  let records = 0;
  const startedAt = Date.now();
  for (;;) {
    records = 0;
    for (const chain of chains) {
      for (const key of (await store.list(chain.prefix)).filter((k) => parseManifestKey(k) !== undefined)) {
        records += parseManifest((await store.get(key))!, key).records;
      }
    }
    if (records > 0 && !first) first = Date.now();
    if (records >= consumed) break;
    if (Date.now() - startedAt > 600_000) throw new Error(`archived ${records} of ${consumed} in 10 min`);
    await sleep(250);
  }
  const archiveSeconds = (Date.now() - first) / 1000;
  const startSeconds = (first - startedAt) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  await archiver.stop();
  store.close();
  await admin.deleteGroups([topology.group('archiver')]).catch(() => undefined);

  const result = {
    submissions,
    records: consumed,
    segmentRecords: config.audit.segment.maxRecords,
    archiver: { startSeconds, seconds: archiveSeconds, recordsPerSecond: Math.round(consumed / archiveSeconds), cpuSecondsPer1000: Number((((cpu.user + cpu.system) / 1e6 / consumed) * 1000).toFixed(3)) },
    consume: { seconds: consumeSeconds, recordsPerSecond: Math.round(consumed / consumeSeconds) },
    ratio: Number((consumed / archiveSeconds / (consumed / consumeSeconds)).toFixed(3)),
    loadAverage: loadavg().map((l) => Number(l.toFixed(2))),
  };
  console.log(JSON.stringify(result, null, 2));
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  mkdirSync(join(REPO_ROOT, 'bench/results'), { recursive: true });
  writeFileSync(join(REPO_ROOT, `bench/results/archiver-${stamp}.json`), `${JSON.stringify(result, null, 2)}\n`);
  writeFileSync(
    join(REPO_ROOT, `bench/results/archiver-${stamp}.md`),
    `# archiver ${stamp}\n\n| row | records | seconds | records/s |\n|---|---|---|---|\n| archiver (segments of ${result.segmentRecords}) | ${consumed} | ${archiveSeconds} | ${result.archiver.recordsPerSecond} |\n| plain consume | ${consumed} | ${consumeSeconds} | ${result.consume.recordsPerSecond} |\n\nratio ${result.ratio}; archiver CPU-s per 1,000 records ${result.archiver.cpuSecondsPer1000}; load average ${result.loadAverage.join(' ')}\n`,
  );
} finally {
  await admin.deleteTopics({ topics: [...Object.values(topology.topics).map((t) => t.name), ...topology.changelogs.map((c) => c.name)] }).catch(() => undefined);
  await admin.disconnect();
}
