/**
 * Consumer-group lag: how far a group's committed offsets trail the end of its topics, and how
 * fast it is catching up. The intake's backpressure reads it; so can any operator command.
 *
 * A partition the group never committed counts from the low watermark: the processors start
 * from the earliest offset, so everything still retained is work they have not done.
 */
import type { Admin } from 'kafkajs';

/** The part of the kafkajs admin client lag needs (an in-memory fake satisfies it in tests). */
export type LagAdmin = Pick<Admin, 'fetchTopicOffsets' | 'fetchOffsets'>;

export interface PartitionLag {
  topic: string;
  partition: number;
  /** High watermark: the offset the next record will get. */
  end: number;
  /** Where the group resumes: its committed offset, or the low watermark if it has none. */
  position: number;
  lag: number;
}

export interface GroupLag {
  group: string;
  /** Sum over partitions of end minus position. */
  lag: number;
  /** Sum of positions: its growth over time is the group's drain rate. */
  position: number;
  partitions: PartitionLag[];
}

export async function fetchGroupLag(admin: LagAdmin, group: string, topics: readonly string[]): Promise<GroupLag> {
  const [ends, committed] = await Promise.all([
    Promise.all(topics.map(async (topic) => ({ topic, offsets: await admin.fetchTopicOffsets(topic) }))),
    admin.fetchOffsets({ groupId: group, topics: [...topics] }),
  ]);
  const committedOf = new Map<string, number>();
  for (const t of committed) for (const p of t.partitions) committedOf.set(`${t.topic}:${p.partition}`, Number(p.offset));

  const partitions: PartitionLag[] = [];
  for (const { topic, offsets } of ends) {
    for (const p of offsets) {
      const end = Number(p.high);
      const low = Number(p.low);
      const commit = committedOf.get(`${topic}:${p.partition}`) ?? -1;
      // A commit below the low watermark (retention deleted the records) resumes at the low watermark.
      const position = Math.min(end, Math.max(commit, low));
      partitions.push({ topic, partition: p.partition, end, position, lag: end - position });
    }
  }
  return {
    group,
    lag: partitions.reduce((sum, p) => sum + p.lag, 0),
    position: partitions.reduce((sum, p) => sum + p.position, 0),
    partitions,
  };
}

export interface PositionSample {
  at: number;
  position: number;
}

/**
 * Records per second a group consumed between the oldest and newest sample. A position that went
 * backwards (group reset or deleted) is no progress, not negative progress.
 */
export function drainRate(samples: readonly PositionSample[]): number {
  const first = samples[0];
  const last = samples[samples.length - 1];
  if (!first || !last || last.at <= first.at) return 0;
  return Math.max(0, last.position - first.position) / ((last.at - first.at) / 1000);
}

/** Keeps the samples of the last `windowMs` (and always the newest two), oldest first. */
export function trimSamples(samples: PositionSample[], now: number, windowMs: number): PositionSample[] {
  const kept = samples.filter((s) => now - s.at <= windowMs);
  return kept.length >= 2 ? kept : samples.slice(-2);
}
