/**
 * The dead-letter queue for operators: list and filter dead letters, and replay them.
 *
 * A replay re-produces a dead letter's ORIGINAL bytes (key, value, headers) to its original
 * topic and partition, with `permitflow-replay-of: <dlq partition>:<dlq offset>` and
 * `permitflow-replayed-at`. It starts with a canary: the first records are replayed alone and
 * must be committed past by the stage's consumer group without coming back to the DLQ before
 * the rest follow, paced to a rate. A replayed record that fails again is dead-lettered as
 * `parked` (processors/runtime/dead-letter.ts): replays skip parked letters, so they never loop.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Partitioners, type Admin, type Kafka, type Producer } from 'kafkajs';
import { PermitflowError } from '../lib/errors.ts';
import { REPLAY_OF_HEADER, REPLAYED_AT_HEADER } from '../processors/runtime/dead-letter.ts';
import type { Serde } from '../schemas/serde.ts';
import type { DeadLetter } from '../schemas/types.ts';
import type { Topology } from '../topology/topics.ts';
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

export type SkipReason = 'parked' | 'already replayed' | 'not from a topic' | 'no original value';

/** Why a letter is not replayed, or null when it is replayable. */
export function skipReason(entry: DlqEntry, topology: Topology, includeParked = false): SkipReason | null {
  const l = entry.letter;
  if (l.parked && !includeParked) return 'parked';
  if (entry.replayedAs !== null) return 'already replayed';
  const topic = Object.values(topology.topics).find((t) => t.name === l.originalTopic);
  if (!topic || l.originalPartition < 0 || l.originalPartition >= topic.partitions) return 'not from a topic';
  if (l.originalValue === null) return 'no original value';
  return null;
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
  skipped: Array<{ entry: DlqEntry; reason: SkipReason }>;
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

async function send(producer: Producer, entry: DlqEntry, now: number): Promise<ReplayedRecord> {
  const m = replayMessage(entry, now);
  const [meta] = await producer.send({ topic: entry.letter.originalTopic, messages: [m] });
  if (!meta?.baseOffset) throw PermitflowError.retriable('PF_REPLAY_FAILED', `no offset for the replay of ${entry.id}`);
  return { from: entry.id, topic: entry.letter.originalTopic, partition: meta.partition, offset: meta.baseOffset };
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
  const all = await listDeadLetters(kafka, serde, topology);
  const matching = all.filter((e) => matchesFilter(e.letter, options.filter ?? {}));
  const skipped: ReplayResult['skipped'] = [];
  const selected: DlqEntry[] = [];
  for (const e of matching) {
    const reason = skipReason(e, topology, options.includeParked);
    if (reason) skipped.push({ entry: e, reason });
    else selected.push(e);
  }
  const base = { selected, skipped, replayed: [] as ReplayedRecord[] };
  if (selected.length === 0) return { ...base, outcome: 'nothing', message: `nothing to replay (${matching.length} matching, ${skipped.length} skipped)` };
  if (options.dryRun) return { ...base, outcome: 'dry-run', message: `would replay ${selected.length} dead letter(s)` };

  const canaryCount = Math.min(options.canary ?? 1, selected.length);
  const pace = createPacer(options.rate ?? 50, now);
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
  const admin = kafka.admin();
  await Promise.all([producer.connect(), admin.connect()]);
  try {
    const canaries = selected.slice(0, canaryCount);
    for (const e of canaries) {
      await pace();
      base.replayed.push(await send(producer, e, now()));
    }
    if (canaryCount > 0) {
      progress(`replayed ${canaryCount} canary record(s); waiting for ${[...new Set(canaries.map((c) => c.letter.consumerGroup))].join(', ')}`);
      const failure = await waitForCanaries(kafka, serde, topology, admin, canaries, base.replayed, options.canaryTimeoutMs ?? 60_000);
      if (failure) return { ...base, outcome: 'canary-failed', message: failure };
      progress('canary passed');
    }
    for (const e of selected.slice(canaryCount)) {
      await pace();
      base.replayed.push(await send(producer, e, now()));
    }
    return { ...base, outcome: 'ok', message: `replayed ${base.replayed.length} dead letter(s)` };
  } finally {
    await Promise.all([producer.disconnect(), admin.disconnect()]);
  }
}

/** Waits until each canary's group committed past it; returns why the canary failed, or null. */
async function waitForCanaries(kafka: Kafka, serde: Serde, topology: Topology, admin: Admin, canaries: DlqEntry[], replayed: ReplayedRecord[], timeoutMs: number): Promise<string | null> {
  const deadline = Date.now() + timeoutMs;
  const pending = new Set(canaries.map((_, i) => i));
  while (pending.size > 0) {
    for (const i of [...pending]) {
      if (await committedPast(admin, canaries[i]!.letter.consumerGroup, replayed[i]!).catch(() => false)) pending.delete(i);
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
