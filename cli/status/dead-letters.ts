/**
 * Dead letters per stage for `permitflow status`.
 *
 * Where the count comes from, and why: the read model has them by stage and consumer group
 * (`dead_letters`, migration 0001), counted by an index in PostgreSQL, whereas the DLQ topic
 * (a year's retention) would have to be read and decoded in full on every refresh. But the read
 * model is only as current as its sink, which may lag or be stopped, exactly when an operator
 * looks. So the count is the read model's rows plus the DLQ records past the offsets the sink
 * applied (`sink_offsets`, read in the same statement as the rows, hence one consistent split
 * point): exact whether the read model keeps up, lags or never ran. When PostgreSQL cannot be
 * read (down, or the schema not migrated) the whole topic is counted, and the snapshot says so.
 *
 * The tail is read with the consumer's `read_committed` view and remembered between refreshes,
 * so a live view decodes each record past the read model's position once.
 */
import type { Admin, Kafka } from 'kafkajs';
import type pg from 'pg';
import { readRanges } from '../../lib/range-reader.ts';
import type { Serde } from '../../schemas/serde.ts';
import type { DeadLetter } from '../../schemas/types.ts';
import type { TopicSpec } from '../../topology/topics.ts';

export interface DeadLetterCounts {
  /** Dead letters per consumer group of the stage that gave up. */
  byGroup: Map<string, number>;
  /** 'read-model+topic': the read model's rows plus the DLQ past its offsets; 'topic': the whole DLQ topic. */
  source: 'read-model+topic' | 'topic';
  /** Why the read model was not used, when it was not. */
  note: string | null;
}

/** What the read model has applied: its dead letters per group and its next offset per DLQ partition. */
export interface ReadModelDeadLetters {
  byGroup: Map<string, number>;
  applied: Map<number, bigint>;
}

export type ReadModelQuery = (groups: readonly string[]) => Promise<ReadModelDeadLetters>;

export interface TailRecord {
  partition: number;
  offset: bigint;
  /** The letter's consumer group, or null when it could not be decoded. */
  group: string | null;
}

/** Reads the DLQ records of each partition in [from, to). */
export type RangeReader = (ranges: ReadonlyMap<number, { from: bigint; to: bigint }>) => Promise<TailRecord[]>;

export interface DeadLetterCounter {
  /** Counts the letters of every group, the ones listed included (asked of the read model). */
  count(groups: readonly string[]): Promise<DeadLetterCounts>;
}

export interface DeadLetterCounterDeps {
  /** Low and high watermarks of the DLQ topic. */
  watermarks: () => Promise<Array<{ partition: number; low: string; high: string }>>;
  /** Null when there is no read model to ask. */
  readModel: ReadModelQuery | null;
  readRange: RangeReader;
}

/** A group whose letters cannot be attributed (an undecodable DLQ record). */
export const UNKNOWN_GROUP = '?';

export function createDeadLetterCounter(deps: DeadLetterCounterDeps): DeadLetterCounter {
  // Per partition, the decoded tail [from, to) kept from the previous refreshes.
  const cache = new Map<number, { from: bigint; to: bigint; records: TailRecord[] }>();
  // One count at a time, shared by whoever asks meanwhile: a caller that gave up on a slow count
  // must not start a second read of the same range beside it (both would land in the cache).
  let running: Promise<DeadLetterCounts> | undefined;

  return {
    count(groups) {
      running ??= countOnce(groups).finally(() => (running = undefined));
      return running;
    },
  };

  async function countOnce(groups: readonly string[]): Promise<DeadLetterCounts> {
      const [marks, fromReadModel] = await Promise.all([
        deps.watermarks(),
        deps.readModel
          ? deps.readModel(groups).then(
              (r) => ({ ok: true as const, r }),
              (err: unknown) => ({ ok: false as const, note: `read model unavailable (${err instanceof Error ? err.message : String(err)}): counted from the DLQ topic` }),
            )
          : Promise.resolve({ ok: false as const, note: 'no read model configured: counted from the DLQ topic' }),
      ]);
      const applied = fromReadModel.ok ? fromReadModel.r.applied : new Map<number, bigint>();

      const toRead = new Map<number, { from: bigint; to: bigint }>();
      for (const m of marks) {
        const low = BigInt(m.low);
        const high = BigInt(m.high);
        // Records below the low watermark are gone (retention); the read model keeps their rows.
        let start = applied.get(m.partition) ?? low;
        if (start < low) start = low;
        const cached = cache.get(m.partition);
        if (cached && cached.from <= start && start <= cached.to) {
          cached.records = cached.records.filter((r) => r.offset >= start);
          cached.from = start;
        } else {
          cache.set(m.partition, { from: start, to: start, records: [] });
        }
        const entry = cache.get(m.partition)!;
        if (high > entry.to) toRead.set(m.partition, { from: entry.to, to: high });
      }
      for (const p of [...cache.keys()]) if (!marks.some((m) => m.partition === p)) cache.delete(p);

      if (toRead.size > 0) {
        const records = await deps.readRange(toRead);
        for (const [partition, range] of toRead) {
          const entry = cache.get(partition)!;
          entry.records.push(...records.filter((r) => r.partition === partition && r.offset >= range.from && r.offset < range.to));
          entry.to = range.to;
        }
      }

      const byGroup = new Map<string, number>(fromReadModel.ok ? fromReadModel.r.byGroup : []);
      for (const entry of cache.values()) {
        for (const r of entry.records) {
          const group = r.group ?? UNKNOWN_GROUP;
          byGroup.set(group, (byGroup.get(group) ?? 0) + 1);
        }
      }
      return fromReadModel.ok ? { byGroup, source: 'read-model+topic', note: null } : { byGroup, source: 'topic', note: fromReadModel.note };
  }
}

/**
 * The read model's dead letters of these groups and the sink's next offset per DLQ partition,
 * in one statement: one snapshot, so no letter is counted both here and in the topic tail.
 */
export function readModelDeadLetters(pool: pg.Pool, options: { sinkGroup: string; dlqTopic: string }): ReadModelQuery {
  return async (groups) => {
    const { rows } = await pool.query<{ kind: 'letters' | 'applied'; key: string; partition: number | null; n: string }>(
      `SELECT 'letters' AS kind, consumer_group AS key, NULL::integer AS partition, count(*)::bigint AS n
         FROM dead_letters WHERE consumer_group = ANY($1::text[]) GROUP BY consumer_group
       UNION ALL
       SELECT 'applied', topic, partition, next_offset FROM sink_offsets WHERE consumer_group = $2 AND topic = $3`,
      [groups, options.sinkGroup, options.dlqTopic],
    );
    const result: ReadModelDeadLetters = { byGroup: new Map(), applied: new Map() };
    for (const r of rows) {
      if (r.kind === 'letters') result.byGroup.set(r.key, Number(r.n));
      else result.applied.set(r.partition!, BigInt(r.n));
    }
    return result;
  };
}

/**
 * Reads ranges of the DLQ with the one range reader (lib/range-reader.ts: a throw-away group,
 * `read_committed`), decoding only the consumer group of each letter.
 */
export function kafkaRangeReader(kafka: Kafka, admin: Pick<Admin, 'deleteGroups'>, serde: Serde, topic: TopicSpec, options: { timeoutMs: number; signal?: AbortSignal }): RangeReader {
  return async (ranges) => {
    const records: TailRecord[] = [];
    await readRanges(kafka, {
      topic: topic.name,
      ranges,
      timeoutMs: options.timeoutMs,
      what: `reading the tail of ${topic.name}`,
      ...(options.signal && { signal: options.signal }),
      admin,
      async onRecords(partition, batch) {
        for (const m of batch) {
          if (!m.value) continue;
          const letter = await serde.decode<DeadLetter>(topic, m.value).catch(() => null);
          records.push({ partition, offset: m.offset, group: letter?.consumerGroup ?? null });
        }
      },
    });
    return records;
  };
}
