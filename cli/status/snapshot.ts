/**
 * One `permitflow status` snapshot: per stage of the topology (each processor's consumer group,
 * the read-model sink included) its lag (total and worst partition), its drain rate since the
 * previous refreshes, the records in flight in its processes and its dead letters; plus the DLQ
 * total and the state topics' sizes.
 *
 * `collectStatus` takes its sources as arguments (a Kafka admin, a dead-letter counter, a
 * metrics scraper, a clock) and never throws: a source that fails leaves its cells empty and
 * adds a line to `errors`, so a live view keeps running through a broker or database outage.
 */
import type { Admin } from 'kafkajs';
import { drainRate, fetchGroupLag, trimSamples, type LagAdmin, type PositionSample } from '../../lib/lag.ts';
import { CONNECTORS, PROCESSORS, TOPICS, type ConnectorId, type ProcessorId, type TopicId, type Topology } from '../../topology/topics.ts';
import type { DeadLetterCounts } from './dead-letters.ts';
import { UNKNOWN_GROUP } from './dead-letters.ts';
import type { InFlightReading } from './metrics.ts';
import { withTimeout } from '../../lib/timeout.ts';

export interface StageStatus {
  stage: ProcessorId;
  group: string;
  /** Members of the consumer group now: 0 means nothing consumes (null: unknown). */
  members: number | null;
  /** Records behind the end of its inputs (null: could not be read). */
  lag: number | null;
  worstPartition: { topic: string; partition: number; lag: number } | null;
  /** Sum of the group's positions over its inputs: its growth is the drain rate. */
  position: number | null;
  /** Records per second the group consumed since the oldest kept sample (null: one sample yet). */
  rate: number | null;
  /** Records being handled now by the processes scraped (null: none of them reports this stage). */
  inFlight: number | null;
  /** Dead letters of this stage (null: it writes none, or they could not be counted). */
  deadLetters: number | null;
}

export interface StatusSnapshot {
  /** ISO 8601 time of the snapshot. */
  time: string;
  namespace: string;
  cluster: { id: string | null; brokers: string[] };
  stages: StageStatus[];
  deadLetters: {
    total: number | null;
    /** Letters of writers that are not processor stages (the file-drop importer, by connector id), and of undecodable records. */
    others: Record<string, number>;
    source: DeadLetterCounts['source'] | null;
    note: string | null;
  };
  /**
   * Offsets held per state topic (high minus low watermark, summed over partitions): cheap, and
   * an upper bound of the records, since transaction markers take offsets too and compaction
   * removes records without moving the low watermark.
   */
  stateTopics: Array<{ id: TopicId; topic: string; offsets: number }> | null;
  metrics: InFlightReading['endpoints'];
  /** Sources that failed for this snapshot: what was being read, and why it failed. */
  errors: Array<{ source: string; message: string }>;
}

export type StatusAdmin = LagAdmin & Pick<Admin, 'describeCluster' | 'describeGroups'>;

export interface StatusSources {
  admin: StatusAdmin;
  brokers: string[];
  deadLetters: { count(groups: readonly string[]): Promise<DeadLetterCounts> };
  inFlight: () => Promise<InFlightReading>;
  now?: () => number;
  /** Each source that has not answered within this long counts as failed for this snapshot. */
  timeoutMs?: number;
}

/** Position samples per consumer group, kept between refreshes for the drain rate. */
export interface RateHistory {
  samples: Map<string, PositionSample[]>;
  /** Samples older than this are dropped (the newest two always stay). */
  windowMs: number;
}

export const createRateHistory = (windowMs: number): RateHistory => ({ samples: new Map(), windowMs });

/** Processors in topology order; the read model last, as it consumes everything. */
export const STAGES = Object.keys(PROCESSORS) as ProcessorId[];

/** The state topics: every compacted topic of the catalogue. */
export const STATE_TOPICS = (Object.keys(TOPICS) as TopicId[]).filter((id) => TOPICS[id].cleanup === 'compact');

const message = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** `p`, or a rejection once `ms` passed: a live view must not stall on one source. */
function within<T>(p: Promise<T>, ms: number | undefined): Promise<T> {
  return ms === undefined ? p : withTimeout(p, ms);
}

/** The admin with `fetchTopicOffsets` memoised: the groups share input topics, so one refresh asks once per topic. */
function memoised(admin: StatusAdmin): StatusAdmin {
  const offsets = new Map<string, ReturnType<Admin['fetchTopicOffsets']>>();
  return {
    fetchOffsets: (o) => admin.fetchOffsets(o),
    describeCluster: () => admin.describeCluster(),
    describeGroups: (g) => admin.describeGroups(g),
    fetchTopicOffsets: (topic) => {
      let p = offsets.get(topic);
      if (!p) {
        p = admin.fetchTopicOffsets(topic);
        offsets.set(topic, p);
      }
      return p;
    },
  };
}

export async function collectStatus(topology: Topology, sources: StatusSources, history: RateHistory = createRateHistory(0)): Promise<StatusSnapshot> {
  const now = sources.now ?? Date.now;
  const admin = memoised(sources.admin);
  const errors: StatusSnapshot['errors'] = [];
  const guard = <T>(what: string, p: () => Promise<T>): Promise<T | null> =>
    within(p(), sources.timeoutMs).catch((err: unknown) => {
      errors.push({ source: what, message: message(err) });
      return null;
    });

  const stageGroups = STAGES.map((s) => topology.group(s));
  const connectorGroups = new Map((Object.keys(CONNECTORS) as ConnectorId[]).map((c) => [topology.group(c), c]));
  const [lags, cluster, groups, letters, inFlight, stateTopics] = await Promise.all([
    Promise.all(STAGES.map((s) => guard(`lag of ${s}`, () => fetchGroupLag(admin, topology.group(s), PROCESSORS[s].inputs.map((i) => topology.topics[i].name))))),
    guard('cluster', () => admin.describeCluster()),
    guard('consumer groups', () => admin.describeGroups(stageGroups)),
    guard('dead letters', () => sources.deadLetters.count([...stageGroups, ...connectorGroups.keys()])),
    guard('metrics', () => sources.inFlight()),
    guard('state topics', () =>
      Promise.all(
        STATE_TOPICS.map(async (id) => {
          const offsets = await admin.fetchTopicOffsets(topology.topics[id].name);
          return { id, topic: topology.topics[id].name, offsets: offsets.reduce((n, p) => n + Number(p.high) - Number(p.low), 0) };
        }),
      ),
    ),
  ]);
  const at = now();

  const stages = STAGES.map((stage, i): StageStatus => {
    const group = topology.group(stage);
    const lag = lags[i] ?? null;
    let rate: number | null = null;
    if (lag) {
      const samples = trimSamples([...(history.samples.get(group) ?? []), { at, position: lag.position }], at, history.windowMs);
      history.samples.set(group, samples);
      rate = samples.length >= 2 ? drainRate(samples) : null;
    }
    const worst = lag?.partitions.reduce<(typeof lag.partitions)[number] | null>((w, p) => (p.lag > (w?.lag ?? 0) ? p : w), null) ?? null;
    const description = groups?.groups.find((g) => g.groupId === group);
    const writesDlq = (PROCESSORS[stage].outputs as readonly TopicId[]).includes('dlq');
    return {
      stage,
      group,
      members: description ? description.members.length : null,
      lag: lag ? lag.lag : null,
      worstPartition: worst ? { topic: worst.topic, partition: worst.partition, lag: worst.lag } : null,
      position: lag ? lag.position : null,
      rate,
      inFlight: inFlight?.byProcessor.get(stage) ?? null,
      deadLetters: writesDlq && letters ? (letters.byGroup.get(group) ?? 0) : null,
    };
  });

  const others: Record<string, number> = {};
  if (letters) {
    for (const [group, n] of letters.byGroup) {
      if (stageGroups.includes(group)) continue;
      const name = connectorGroups.get(group) ?? (group === UNKNOWN_GROUP ? 'undecodable' : group);
      others[name] = (others[name] ?? 0) + n;
    }
  }

  return {
    time: new Date(at).toISOString(),
    namespace: topology.options.namespace,
    cluster: { id: cluster?.clusterId ?? null, brokers: sources.brokers },
    stages,
    deadLetters: {
      total: letters ? [...letters.byGroup.values()].reduce((a, b) => a + b, 0) : null,
      others,
      source: letters?.source ?? null,
      note: letters?.note ?? null,
    },
    stateTopics,
    metrics: inFlight?.endpoints ?? [],
    errors,
  };
}
