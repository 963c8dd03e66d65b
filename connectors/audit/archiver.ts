/**
 * The archiver: group `permitflow.archiver` reads every state topic, the batch manifests and the
 * DLQ (read_committed) and writes each partition's log, in order, as immutable segments (see
 * segment.ts) to the audit bucket, hash-chained per partition; every AUDIT_SEAL_INTERVAL_MS it
 * signs a root over all chains.
 *
 * Exactly once per offset range, across crashes: the archive, not the committed offset, is the
 * source of truth for progress. A segment is written first, then its manifest (a conditional
 * put keyed by the segment's start offset, so only one segment can follow another), and only
 * then is the offset committed (for lag; never trusted). On every assignment the archiver reads
 * the partition's last manifest, checks its segment's hash, adopts a segment a crash left
 * without a manifest, and seeks to the offset after the last archived one.
 *
 * Like the read-model sink it produces nothing to Kafka, so it runs as a sink (lib/sink-runner.ts:
 * deployment check, retries with backoff, crash restarts, stops on a broken chain).
 */
import type { KeyObject } from 'node:crypto';
import type { EachBatchPayload, Kafka } from 'kafkajs';
import { Counter, Histogram } from 'prom-client';
import { sha256Hex } from '../../domain/hashing.ts';
import { classify, PermitflowError } from '../../lib/errors.ts';
import { stringHeaders } from '../../lib/kafka.ts';
import type { Logger } from '../../lib/logger.ts';
import type { Serde } from '../../schemas/serde.ts';
import { runSink } from '../../lib/sink-runner.ts';
import { createStageConsumer } from '../../lib/stage-consumer.ts';
import type { TopicSpec, Topology } from '../../topology/topics.ts';
import { claimSealSlot, sealRoot } from './roots.ts';
import {
  buildSegment,
  decodeSegment,
  jsonSafe,
  manifestBytes,
  manifestKey,
  parseManifest,
  parseManifestKey,
  parseSegmentKey,
  partitionPrefix,
  wireSchemaId,
  type AuditLine,
  type SegmentManifest,
} from './segment.ts';
import type { AuditStore } from './store.ts';
import { archiveChains } from './verify.ts';

export interface ArchiverOptions {
  kafka: Kafka;
  serde: Serde;
  store: AuditStore;
  topology: Topology;
  logger: Logger;
  signingKey: KeyObject;
  workerId: string;
  segment: { maxRecords: number; maxBytes: number; maxAgeMs: number };
  sealIntervalMs: number;
  partitionsConcurrently: number;
  maxBytesPerPartition: number;
  sessionTimeoutMs: number;
  /** After leaving the group: the audit store's client, when the archiver owns it. */
  close?: () => Promise<void>;
}

export interface RunningArchiver {
  started: Promise<void>;
  done: Promise<void>;
  stop(): Promise<void>;
  /** Writes every open segment now (a graceful stop does too). */
  flush(): Promise<void>;
}

/** The archive's end does not verify: extending it would hide the break, so the archiver stops. */
const CHAIN_BROKEN = 'PF_AUDIT_CHAIN_BROKEN';
const stopsArchiver = (err: unknown): boolean => classify(err) === 'fatal' || (err instanceof PermitflowError && err.code === CHAIN_BROKEN);

const metrics = {
  records: new Counter({ name: 'permitflow_archiver_records_total', help: 'Records written to audit segments, by topic', labelNames: ['topic'] }),
  segments: new Counter({ name: 'permitflow_archiver_segments_total', help: 'Audit segments written, by topic', labelNames: ['topic'] }),
  adopted: new Counter({ name: 'permitflow_archiver_adopted_segments_total', help: 'Segments a crashed archiver left without a manifest, adopted on restart' }),
  seconds: new Histogram({ name: 'permitflow_archiver_segment_write_seconds', help: 'Time to write one segment and its manifest', buckets: [0.01, 0.05, 0.1, 0.5, 1, 5] }),
};

/** One partition's progress: where the archive ends and the records read since. */
interface PartitionState {
  topic: TopicSpec;
  partition: number;
  /** Offset of the first record not yet in a segment: the open segment's start. */
  start: bigint;
  /** Next offset expected from Kafka (records below it are already buffered or archived). */
  position: bigint;
  previous: { key: string; sha256: string } | null;
  lines: AuditLine[];
  bytes: number;
  openedAt: number;
  /** Serialises the partition's batches, age flushes and stops. */
  queue: Promise<unknown>;
}

/** The archive's end of one partition; adopts a segment a crash left without its manifest. */
export async function loadPartitionState(
  store: AuditStore,
  topic: TopicSpec,
  partition: number,
  logStart: bigint,
  workerId: string,
  logger: Logger,
): Promise<PartitionState> {
  const keys = await store.list(partitionPrefix(topic.name, partition));
  const lastManifestKey = keys.filter((k) => parseManifestKey(k) !== undefined).at(-1);
  let previous: { key: string; sha256: string } | null = null;
  let start = logStart;
  if (lastManifestKey) {
    const manifest = parseManifest((await store.get(lastManifestKey))!, lastManifestKey);
    const body = await store.get(manifest.segmentKey);
    if (!body || sha256Hex(body) !== manifest.segmentSha256) {
      // Extending a chain whose head does not verify would hide the break: stop for an operator.
      throw PermitflowError.permanent(CHAIN_BROKEN, `the last audit segment ${manifest.segmentKey} is ${body ? 'altered' : 'missing'}; run \`permitflow audit verify\``);
    }
    previous = { key: manifest.segmentKey, sha256: manifest.segmentSha256 };
    start = BigInt(manifest.nextOffset);
  }
  // A segment at or after `start` with no manifest: written just before a crash. Its records are
  // the log's from `start`, so its manifest is written now and reading goes on after it.
  for (;;) {
    const orphan = keys.find((k) => {
      const range = parseSegmentKey(k);
      return range !== undefined && range.first >= start && !keys.includes(manifestKey(topic.name, partition, start));
    });
    if (!orphan) break;
    const body = (await store.get(orphan))!;
    const lines = decodeSegment(body, orphan);
    const { manifest } = buildSegment(topic.name, partition, start, lines, previous, workerId);
    if (manifest.segmentKey !== orphan || BigInt(manifest.firstOffset) < start) {
      throw PermitflowError.permanent(CHAIN_BROKEN, `${orphan} has no manifest and its records (${manifest.firstOffset}-${manifest.lastOffset}) do not follow offset ${start}; run \`permitflow audit verify\``);
    }
    // Hashed as stored, not as re-encoded: the manifest vouches for the bytes in the bucket.
    const adopted: SegmentManifest = { ...manifest, segmentSha256: sha256Hex(body), segmentBytes: body.length };
    await store.putIfAbsent(manifestKey(topic.name, partition, start), manifestBytes(adopted), 'application/json');
    metrics.adopted.inc();
    logger.warn({ topic: topic.name, partition, segment: orphan }, 'adopted a segment written before a crash');
    keys.push(manifestKey(topic.name, partition, start));
    previous = { key: orphan, sha256: adopted.segmentSha256 };
    start = BigInt(manifest.nextOffset);
  }
  return { topic, partition, start, position: start, previous, lines: [], bytes: 0, openedAt: 0, queue: Promise.resolve() };
}

export function runArchiver(options: ArchiverOptions): RunningArchiver {
  const { kafka, serde, store, topology } = options;
  const group = topology.group('archiver');
  const logger = options.logger.child({ processor: 'archiver', groupId: group });
  const chains = archiveChains(topology);
  const inputs = [...new Set(chains.map((c) => c.topic))].map((name) => Object.values(topology.topics).find((t) => t.name === name)!);
  const byName = new Map(inputs.map((t) => [t.name, t]));
  const consumer = createStageConsumer(kafka, group, options);
  /** Partition states of the current assignment, by `<topic>/<partition>`; replaced at every join. */
  let states = new Map<string, Promise<PartitionState>>();

  async function toLine(topic: TopicSpec, m: EachBatchPayload['batch']['messages'][number]): Promise<AuditLine> {
    const value = m.value ?? null;
    const line: AuditLine = {
      offset: m.offset,
      timestamp: m.timestamp,
      key: m.key?.toString('utf8') ?? null,
      headers: stringHeaders(m.headers),
      schemaId: wireSchemaId(value),
      value: value?.toString('base64') ?? null,
      record: null,
    };
    if (!value) return line;
    try {
      line.record = jsonSafe(await serde.decode(topic, value));
    } catch (err) {
      // The exact bytes are archived either way; a record that never decodes is kept as it is.
      if (classify(err) !== 'dead-letter') throw err;
      line.decodeError = err instanceof Error ? err.message : String(err);
    }
    return line;
  }

  /** Writes the open segment: object, then manifest, then the offset commit. */
  async function writeSegment(state: PartitionState): Promise<void> {
    if (state.lines.length === 0) return;
    const end = metrics.seconds.startTimer();
    const { body, manifest } = buildSegment(state.topic.name, state.partition, state.start, state.lines, state.previous, options.workerId);
    const written = await store.putIfAbsent(manifest.segmentKey, body, 'application/gzip');
    if (written === 'exists') {
      const existing = await store.get(manifest.segmentKey);
      if (!existing || sha256Hex(existing) !== manifest.segmentSha256) {
        throw PermitflowError.retriable('PF_AUDIT_SEGMENT_CONFLICT', `${manifest.segmentKey} exists with other bytes: another archiver wrote this range; the partition is read again from the archive`);
      }
    }
    const key = manifestKey(state.topic.name, state.partition, state.start);
    if ((await store.putIfAbsent(key, manifestBytes(manifest), 'application/json')) === 'exists') {
      const other = parseManifest((await store.get(key))!, key);
      if (other.segmentSha256 !== manifest.segmentSha256) {
        throw PermitflowError.retriable('PF_AUDIT_SEGMENT_CONFLICT', `${key} names another segment: another archiver extended this chain; the partition is read again from the archive`);
      }
    }
    end();
    metrics.segments.inc({ topic: state.topic.id });
    metrics.records.inc({ topic: state.topic.id }, state.lines.length);
    state.previous = { key: manifest.segmentKey, sha256: manifest.segmentSha256 };
    state.start = BigInt(manifest.nextOffset);
    state.lines = [];
    state.bytes = 0;
    await consumer.commitOffsets([{ topic: state.topic.name, partition: state.partition, offset: manifest.nextOffset }]).catch((err: unknown) => {
      // The archive holds the progress; a lost commit only shows as lag until the next one.
      logger.warn({ err, topic: state.topic.name, partition: state.partition }, 'offset commit failed after a segment was written');
    });
    logger.debug({ segment: manifest.segmentKey, records: manifest.records }, 'segment written');
  }

  const full = (s: PartitionState) => s.lines.length >= options.segment.maxRecords || s.bytes >= options.segment.maxBytes;

  /** Runs `job` after the partition's earlier jobs; a failure leaves the state for the next join to rebuild. */
  function serial<T>(state: PartitionState, job: () => Promise<T>): Promise<T> {
    const run = state.queue.then(job);
    state.queue = run.catch(() => undefined);
    return run;
  }

  async function archiveBatch(payload: EachBatchPayload): Promise<void> {
    const { batch } = payload;
    const key = `${batch.topic}/${batch.partition}`;
    const state = await states.get(key);
    if (!state) return; // not ours any more
    const topic = byName.get(batch.topic)!;
    await serial(state, async () => {
      for (const m of batch.messages) {
        const offset = BigInt(m.offset);
        if (offset < state.position) continue; // before the seek took effect, or a refetch
        const line = await toLine(topic, m);
        if (state.lines.length === 0) state.openedAt = Date.now();
        state.lines.push(line);
        state.bytes += (line.value?.length ?? 0) + JSON.stringify(line.record).length;
        state.position = offset + 1n;
        if (full(state)) await writeSegment(state);
      }
    });
  }

  async function logStarts(topic: string): Promise<Map<number, bigint>> {
    const admin = kafka.admin();
    await admin.connect();
    try {
      return new Map((await admin.fetchTopicOffsets(topic)).map((o) => [o.partition, BigInt(o.low)]));
    } finally {
      await admin.disconnect();
    }
  }

  async function reload(topicName: string, partition: number): Promise<void> {
    const topic = byName.get(topicName)!;
    const low = (await logStarts(topicName)).get(partition) ?? 0n;
    const next = loadPartitionState(store, topic, partition, low, options.workerId, logger);
    states.set(`${topicName}/${partition}`, next);
    const state = await next;
    consumer.seek({ topic: topicName, partition, offset: state.start.toString() });
  }

  /** On every join: each assigned partition's state from the archive, and a seek to its end. */
  async function onAssignment(assignment: Record<string, number[]>): Promise<void> {
    const next = new Map<string, Promise<PartitionState>>();
    const seeks: Promise<void>[] = [];
    for (const [topicName, partitions] of Object.entries(assignment)) {
      const topic = byName.get(topicName);
      if (!topic) continue;
      const lows = logStarts(topicName);
      for (const partition of partitions) {
        const state = lows.then((l) => loadPartitionState(store, topic, partition, l.get(partition) ?? 0n, options.workerId, logger));
        next.set(`${topicName}/${partition}`, state);
        seeks.push(state.then((s) => consumer.seek({ topic: topicName, partition, offset: s.start.toString() })));
      }
    }
    states = next;
    await Promise.all(seeks);
    logger.info({ partitions: next.size }, 'archiver sought to the end of the archive');
  }

  async function flush(): Promise<void> {
    await Promise.all([...states.values()].map(async (p) => {
      const state = await p.catch(() => undefined);
      if (state) await serial(state, () => writeSegment(state));
    }));
  }

  // Age: an idle partition's open segment is written once its first record is old enough.
  const ageTimer = setInterval(() => {
    for (const p of states.values()) {
      void p
        .then((state) => (state.lines.length > 0 && Date.now() - state.openedAt >= options.segment.maxAgeMs ? serial(state, () => writeSegment(state)) : undefined))
        .catch((err: unknown) => logger.warn({ err }, 'age flush failed; the next batch or flush retries'));
    }
  }, Math.max(100, Math.min(1000, Math.floor(options.segment.maxAgeMs / 4))));
  ageTimer.unref();

  // Each slot of AUDIT_SEAL_INTERVAL_MS (a UTC day by default) is sealed once, by whichever
  // instance claims it first; checked every minute at most, so restarts never skip a slot.
  // One seal at a time: a slow seal (a list and a get per chain) overlapping the next slot's would
  // not see it as its previous root, and the root chain would fork.
  let slotTried = -1;
  let sealing = false;
  const seal = async () => {
    const slot = Math.floor(Date.now() / options.sealIntervalMs);
    if (slot === slotTried || sealing) return;
    slotTried = slot;
    sealing = true;
    try {
      if (!(await claimSealSlot(store, topology.options.namespace, options.sealIntervalMs, options.workerId))) return;
      const { key, root } = await sealRoot(store, options.signingKey, topology.options.namespace, chains);
      logger.info({ root: key, heads: root.heads.length }, 'audit root signed');
    } finally {
      sealing = false;
    }
  };
  const sealTimer = setInterval(() => void seal().catch((err: unknown) => logger.warn({ err }, 'audit root not signed; the next slot tries again')), Math.min(options.sealIntervalMs, 60_000));
  sealTimer.unref();

  const sink = runSink({
    processor: 'archiver',
    kafka,
    serde,
    topology,
    logger,
    consumer,
    inputs,
    partitionsConcurrently: options.partitionsConcurrently,
    sessionTimeoutMs: options.sessionTimeoutMs,
    // Commits follow segment writes (writeSegment), never a batch read into memory.
    autoCommit: false,
    onAssignment,
    apply: archiveBatch,
    stops: stopsArchiver,
    // Records buffered by earlier batches may be lost with the failed write: this batch alone
    // cannot be retried, so the partition restarts from what the archive holds (its seek).
    recover: async ({ batch }) => {
      await reload(batch.topic, batch.partition);
      return 'abandon';
    },
    async beforeStop(graceful) {
      clearInterval(ageTimer);
      clearInterval(sealTimer);
      // What was read is written (and committed, while the consumer is still in its group) before
      // leaving, so the next owner starts after it; records fetched meanwhile are read again by it.
      if (graceful) await flush().catch((err: unknown) => logger.warn({ err }, 'open segments not written at stop; the next owner reads them again'));
    },
    ...(options.close && { close: options.close }),
  });
  return { ...sink, flush };
}
