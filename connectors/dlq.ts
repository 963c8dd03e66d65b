/**
 * The dead-letter queue for operators: list and filter dead letters, and replay them.
 *
 * A replay re-produces a dead letter's ORIGINAL bytes (key, value, headers) to its original
 * topic and partition, with `permitflow-replay-of: <dlq partition>:<dlq offset>` and
 * `permitflow-replayed-at`. It starts with a canary: the first records are replayed alone and
 * must be committed past by the stage's consumer group without coming back to the DLQ before
 * the rest follow, paced to a rate. A replayed record that fails again is dead-lettered as
 * `parked` (lib/dead-letter.ts): replays skip parked letters, so they never loop.
 *
 * A letter names its topic itself, and anyone who can produce to the DLQ writes letters: a
 * replay goes only to an input topic of the stage the letter names (raw, chunked, the retry
 * topics, enriched, validated; see the `dlq-replay` connector in topology/), never to a state
 * topic such as `state.accepted`. Each replayed record and a marker for its letter (on the
 * compacted `dlq-replay.replays` changelog, keyed by DLQ position) commit in one transaction,
 * so a later replay skips letters already replayed, exactly, unless forced.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Partitioners, type Admin, type Kafka, type Producer } from 'kafkajs';
import { PermitflowError } from '../lib/errors.ts';
import { REPLAY_OF_HEADER, REPLAYED_AT_HEADER } from '../lib/dead-letter.ts';
import type { Serde } from '../schemas/serde.ts';
import type { DeadLetter } from '../schemas/types.ts';
import { CONNECTORS, PROCESSORS, type ProcessorId, type Topology } from '../topology/topics.ts';
import { rangesToEnd, readRanges } from '../lib/range-reader.ts';
import { readTopic } from './topic-reader.ts';

/** A dead letter with its place in the DLQ. */
export interface DlqEntry {
  /** `<dlq partition>:<dlq offset>`, what `dlq show` and the replay header name it by. */
  id: string;
  partition: number;
  offset: string;
  timestamp: string;
  letter: DeadLetter;
  /** Set when a replay of this letter failed again: the id of the parked letter that followed. */
  replayedAs: string | null;
}

export interface DlqFilter {
  stage?: string;
  errorClass?: string;
  /** lastFailureAt at or after (epoch ms). */
  since?: number;
  /** lastFailureAt at or before (epoch ms). */
  until?: number;
  batchId?: string;
  /** Submission hash prefix. */
  submissionHash?: string;
}

export const entryId = (partition: number, offset: string | number): string => `${partition}:${offset}`;

/** Links each letter to the parked letter its replay produced, if any. */
export function linkReplays(entries: DlqEntry[]): DlqEntry[] {
  const replayedAs = new Map<string, string>();
  for (const e of entries) {
    const of = e.letter.originalHeaders[REPLAY_OF_HEADER];
    if (of !== undefined && !replayedAs.has(of)) replayedAs.set(of, e.id);
  }
  return entries.map((e) => ({ ...e, replayedAs: replayedAs.get(e.id) ?? null }));
}

export function matchesFilter(letter: DeadLetter, filter: DlqFilter): boolean {
  if (filter.stage !== undefined && letter.stage !== filter.stage) return false;
  if (filter.errorClass !== undefined && letter.errorClass !== filter.errorClass) return false;
  if (filter.since !== undefined && letter.lastFailureAt < filter.since) return false;
  if (filter.until !== undefined && letter.lastFailureAt > filter.until) return false;
  if (filter.batchId !== undefined && letter.batchId !== filter.batchId) return false;
  if (filter.submissionHash !== undefined && !(letter.submissionHash ?? '').toLowerCase().startsWith(filter.submissionHash.toLowerCase())) return false;
  return true;
}

/** Every dead letter matching the filter, in DLQ order (partition, then offset). */
export async function listDeadLetters(kafka: Kafka, serde: Serde, topology: Topology, filter: DlqFilter = {}): Promise<DlqEntry[]> {
  const records = await readTopic<DeadLetter>(kafka, serde, topology.topics.dlq, { timeoutMs: 120_000 });
  const entries = linkReplays(
    records
      .map((r) => ({ id: entryId(r.partition, r.offset), partition: r.partition, offset: r.offset, timestamp: r.timestamp, letter: r.value, replayedAs: null }))
      .sort((a, b) => a.partition - b.partition || Number(BigInt(a.offset) - BigInt(b.offset))),
  );
  return entries.filter((e) => matchesFilter(e.letter, filter));
}

export type SkipReason = 'parked' | 'already replayed' | 'not from a topic' | 'not an input of its stage' | 'no original value';

/** What a replay may write to: the input topics of the stages that dead-letter, by stage. */
export function replayTargets(topology: Topology): Map<string, { stage: ProcessorId; partitions: number }> {
  const allowed = new Set<string>(CONNECTORS['dlq-replay'].outputs);
  const targets = new Map<string, { stage: ProcessorId; partitions: number }>();
  for (const [stage, def] of Object.entries(PROCESSORS) as [ProcessorId, (typeof PROCESSORS)[ProcessorId]][]) {
    // Only stages that dead-letter: the read model also reads chunked, enriched and validated.
    if (!(def.outputs as readonly string[]).includes('dlq')) continue;
    for (const input of def.inputs) {
      if (allowed.has(input)) targets.set(topology.topics[input].name, { stage, partitions: topology.topics[input].partitions });
    }
  }
  return targets;
}

/** Where replays may go, for messages. */
export const describeTargets = (topology: Topology): string => [...replayTargets(topology).keys()].join(', ');

/** Why a letter is not replayed, or null when it is replayable. `replayed`: DLQ ids already replayed (see readReplayed). */
export function skipReason(entry: DlqEntry, topology: Topology, includeParked = false, replayed: ReadonlySet<string> = new Set(), force = false): SkipReason | null {
  const l = entry.letter;
  if (l.parked && !includeParked) return 'parked';
  if (entry.replayedAs !== null) return 'already replayed';
  if (replayed.has(entry.id) && !force) return 'already replayed';
  const topic = Object.values(topology.topics).find((t) => t.name === l.originalTopic);
  if (!topic || l.originalPartition < 0 || l.originalPartition >= topic.partitions) return 'not from a topic';
  const target = replayTargets(topology).get(l.originalTopic);
  if (!target || target.stage !== l.stage) return 'not an input of its stage';
  if (l.originalValue === null) return 'no original value';
  return null;
}

/** What a skipped letter's line says, beyond the reason. */
export function skipDetail(entry: DlqEntry, reason: SkipReason, topology: Topology): string {
  if (reason === 'not an input of its stage') {
    return `refused: ${entry.letter.originalTopic} is not an input of stage ${entry.letter.stage}; replays go only to ${describeTargets(topology)}, each from the stage that reads it`;
  }
  if (reason === 'already replayed') return 'already replayed (--force replays it again)';
  return reason;
}

/** The marker a replay leaves for a letter, on the replays changelog. */
export interface ReplayMarker {
  replayedAt: string;
  topic: string;
  partition: number;
}

/** DLQ ids of the letters replayed so far, from the replays changelog (read_committed). */
export async function readReplayed(kafka: Kafka, topology: Topology): Promise<Set<string>> {
  const topic = topology.changelog('dlq-replay', 'replays');
  const admin = kafka.admin();
  await admin.connect();
  let ends: Array<{ partition: number; high: string; low: string }>;
  try {
    ends = await admin.fetchTopicOffsets(topic);
  } catch (err) {
    throw PermitflowError.permanent('PF_REPLAY_STORE_MISSING', `the replay markers topic ${topic} cannot be read (run \`permitflow topology apply\` to create it): ${(err as Error).message}`, { cause: err });
  } finally {
    await admin.disconnect();
  }
  const replayed = new Set<string>();
  await readRanges(kafka, {
    topic,
    ranges: rangesToEnd(ends),
    timeoutMs: 120_000,
    what: `reading ${topic} to its end`,
    onRecords(_partition, records) {
      for (const m of records) if (m.key && m.value) replayed.add(m.key.toString('utf8'));
    },
  });
  return replayed;
}

/**
 * Paces calls to at most `rate` per second: the n-th call returns no earlier than
 * start + n / rate seconds. `now` and `pause` are injectable for tests.
 */
export function createPacer(rate: number, now: () => number = Date.now, pause: (ms: number) => Promise<unknown> = sleep): () => Promise<void> {
  if (!(rate > 0)) throw PermitflowError.permanent('PF_BAD_RATE', `rate must be a positive number, not ${rate}`);
  const interval = 1000 / rate;
  let next: number | undefined;
  return async () => {
    const t = now();
    next ??= t;
    if (next > t) await pause(next - t);
    next = Math.max(next, t) + interval;
  };
}

export interface ReplayOptions {
  filter?: DlqFilter;
  /** Records per second (default 50). */
  rate?: number;
  /** How many records replay alone first and must succeed (default 1; 0 skips the canary). */
  canary?: number;
  /** How long to wait for the canary (default 60 s). */
  canaryTimeoutMs?: number;
  includeParked?: boolean;
  /** Replay letters replayed before (their marker is kept; a new one is written). */
  force?: boolean;
  dryRun?: boolean;
  now?: () => number;
  onProgress?: (message: string) => void;
}

export interface ReplayedRecord {
  from: string;
  topic: string;
  partition: number;
  offset: string;
}

export interface ReplayResult {
  selected: DlqEntry[];
  skipped: Array<{ entry: DlqEntry; reason: SkipReason; detail: string }>;
  replayed: ReplayedRecord[];
  /** 'ok': all replayed; 'canary-failed': a canary came back to the DLQ (or timed out), nothing else replayed; 'dry-run'. */
  outcome: 'ok' | 'canary-failed' | 'dry-run' | 'nothing';
  message: string;
}

/** The original record of a dead letter, as it goes back to its topic. */
export function replayMessage(entry: DlqEntry, replayedAt: number): { key: Buffer | null; value: Buffer; headers: Record<string, string>; partition: number } {
  const l = entry.letter;
  return {
    key: l.originalKey,
    value: l.originalValue!,
    partition: l.originalPartition,
    headers: { ...l.originalHeaders, [REPLAY_OF_HEADER]: entry.id, [REPLAYED_AT_HEADER]: new Date(replayedAt).toISOString() },
  };
}

/** The record and its letter's marker, in one transaction: a letter is marked replayed exactly when its record is out. */
async function send(producer: Producer, topology: Topology, entry: DlqEntry, now: number): Promise<ReplayedRecord> {
  const m = replayMessage(entry, now);
  const marker: ReplayMarker = { replayedAt: new Date(now).toISOString(), topic: entry.letter.originalTopic, partition: m.partition };
  const transaction = await producer.transaction();
  try {
    const [meta] = await transaction.send({ topic: entry.letter.originalTopic, messages: [m] });
    await transaction.send({ topic: topology.changelog('dlq-replay', 'replays'), messages: [{ key: entry.id, value: JSON.stringify(marker) }] });
    if (!meta?.baseOffset) throw PermitflowError.retriable('PF_REPLAY_FAILED', `no offset for the replay of ${entry.id}`);
    await transaction.commit();
    return { from: entry.id, topic: entry.letter.originalTopic, partition: meta.partition, offset: meta.baseOffset };
  } catch (err) {
    await transaction.abort().catch(() => undefined);
    throw err;
  }
}

/** The consumer group committed past the replayed record (exactly-once: its outputs, DLQ included, are committed too). */
async function committedPast(admin: Admin, group: string, r: ReplayedRecord): Promise<boolean> {
  const [fetched] = await admin.fetchOffsets({ groupId: group, topics: [r.topic] });
  const p = fetched?.partitions.find((x) => x.partition === r.partition);
  return p !== undefined && Number(p.offset) > Number(r.offset);
}

export async function replayDeadLetters(kafka: Kafka, serde: Serde, topology: Topology, options: ReplayOptions = {}): Promise<ReplayResult> {
  const now = options.now ?? Date.now;
  const progress = options.onProgress ?? (() => undefined);
  const [all, replayed] = await Promise.all([listDeadLetters(kafka, serde, topology), readReplayed(kafka, topology)]);
  const matching = all.filter((e) => matchesFilter(e.letter, options.filter ?? {}));
  const skipped: ReplayResult['skipped'] = [];
  const selected: DlqEntry[] = [];
  for (const e of matching) {
    const reason = skipReason(e, topology, options.includeParked, replayed, options.force);
    if (reason) skipped.push({ entry: e, reason, detail: skipDetail(e, reason, topology) });
    else selected.push(e);
  }
  const base = { selected, skipped, replayed: [] as ReplayedRecord[] };
  if (selected.length === 0) return { ...base, outcome: 'nothing', message: `nothing to replay (${matching.length} matching, ${skipped.length} skipped)` };
  if (options.dryRun) return { ...base, outcome: 'dry-run', message: `would replay ${selected.length} dead letter(s)` };

  const canaryCount = Math.min(options.canary ?? 1, selected.length);
  const pace = createPacer(options.rate ?? 50, now);
  // One transactional id per namespace: a second replay running at once fences the first.
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, transactionalId: topology.group('dlq-replay'), idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
  const admin = kafka.admin();
  await Promise.all([producer.connect(), admin.connect()]);
  try {
    const canaries = selected.slice(0, canaryCount);
    for (const e of canaries) {
      await pace();
      base.replayed.push(await send(producer, topology, e, now()));
    }
    if (canaryCount > 0) {
      progress(`replayed ${canaryCount} canary record(s); waiting for ${[...new Set(canaries.map((c) => stageGroup(topology, c)))].join(', ')}`);
      const failure = await waitForCanaries(kafka, serde, topology, admin, canaries, base.replayed, options.canaryTimeoutMs ?? 60_000);
      if (failure) return { ...base, outcome: 'canary-failed', message: failure };
      progress('canary passed');
    }
    for (const e of selected.slice(canaryCount)) {
      await pace();
      base.replayed.push(await send(producer, topology, e, now()));
    }
    return { ...base, outcome: 'ok', message: `replayed ${base.replayed.length} dead letter(s)` };
  } finally {
    await Promise.all([producer.disconnect(), admin.disconnect()]);
  }
}

/** The consumer group of the stage reading a letter's topic (from the topology, not from the letter). */
const stageGroup = (topology: Topology, e: DlqEntry): string => topology.group(replayTargets(topology).get(e.letter.originalTopic)!.stage);

/** Waits until each canary's group committed past it; returns why the canary failed, or null. */
async function waitForCanaries(kafka: Kafka, serde: Serde, topology: Topology, admin: Admin, canaries: DlqEntry[], replayed: ReplayedRecord[], timeoutMs: number): Promise<string | null> {
  const deadline = Date.now() + timeoutMs;
  const pending = new Set(canaries.map((_, i) => i));
  while (pending.size > 0) {
    for (const i of [...pending]) {
      if (await committedPast(admin, stageGroup(topology, canaries[i]!), replayed[i]!).catch(() => false)) pending.delete(i);
    }
    if (pending.size === 0) break;
    if (Date.now() > deadline) {
      const ids = [...pending].map((i) => canaries[i]!.id).join(', ');
      return `canary not processed within ${timeoutMs} ms (${ids}): is the ${canaries[[...pending][0]!]!.letter.stage} running? Nothing else was replayed`;
    }
    await sleep(250);
  }
  const again = (await listDeadLetters(kafka, serde, topology)).filter((e) => replayed.some((r) => e.letter.originalHeaders[REPLAY_OF_HEADER] === r.from && e.letter.originalTopic === r.topic && e.letter.originalPartition === r.partition && String(e.letter.originalOffset) === r.offset));
  if (again.length > 0) {
    const details = again.map((e) => `${e.letter.originalHeaders[REPLAY_OF_HEADER]} failed again as ${e.id} (parked): ${e.letter.errorClass}: ${e.letter.errorMessage}`);
    return `canary failed: ${details.join('; ')}. Nothing else was replayed`;
  }
  return null;
}
