/**
 * The typed catalogue of every topic and processor of permitflow: names are data.
 *
 * Topic names are `<namespace>.<suffix>` (namespace `permits` by default, a unique one per
 * test). Every submission-keyed topic has the same partition count, so a submission lives on
 * the same partition number everywhere (co-partitioning). Processors use these entries, never
 * string literals; `describeTopology()` prints the whole graph and a snapshot test keeps
 * renames visible in review.
 */
import { ARCHIVER } from '../processors/archiver/topology.ts';
import { DECIDER } from '../processors/decider/topology.ts';
import { ENRICHER } from '../processors/enricher/topology.ts';
import { EXTRACTOR } from '../processors/extractor/topology.ts';
import { NOTIFIER } from '../processors/notifier/topology.ts';
import { READ_MODEL } from '../processors/read-model/topology.ts';
import { VALIDATOR } from '../processors/validator/topology.ts';
import { WINDOWER } from '../processors/windower/topology.ts';
import type { SchemaName } from '../schemas/index.ts';
import type { ProcessorDeclaration } from './contract.ts';

const DAY_MS = 24 * 3600 * 1000;

export type TopicId =
  | 'raw'
  | 'extract'
  | 'received'
  | 'chunked'
  | 'batches'
  | 'enriched'
  | 'validated'
  | 'accepted'
  | 'rejected'
  | 'retryEnrich1'
  | 'retryEnrich2'
  | 'retryEnrich3'
  | 'dlq';

interface TopicDef {
  suffix: string;
  /** Value schema (Confluent wire format, subject `<topic>-value`). Keys are UTF-8 strings. */
  schema: SchemaName;
  key: 'submission hash' | 'batch id';
  cleanup: 'compact' | 'delete';
  /** retention.ms for delete topics; compacted topics keep the latest record per key forever. */
  retentionMs?: number;
  /** Which retry this topic holds (1, 2, 3): its records are due after the n-th configured delay. */
  retry?: number;
  description: string;
}

/** Every topic of DESIGN.md. */
export const TOPICS = {
  raw: { suffix: 'submissions.raw', schema: 'SubmissionEnvelope', key: 'submission hash', cleanup: 'delete', retentionMs: 7 * DAY_MS, description: 'Envelopes from the intake, file drops and agencies' },
  extract: { suffix: 'submissions.extract', schema: 'SubmissionEnvelope', key: 'submission hash', cleanup: 'delete', retentionMs: 7 * DAY_MS, description: 'Envelopes whose application is a PDF still to be read (intake, file drop)' },
  received: { suffix: 'state.received', schema: 'SubmissionReceived', key: 'submission hash', cleanup: 'compact', description: 'First sighting of each distinct submission' },
  chunked: { suffix: 'state.chunked', schema: 'SubmissionChunked', key: 'submission hash', cleanup: 'compact', description: 'Submission assigned to a closed batch' },
  batches: { suffix: 'batches', schema: 'BatchManifest', key: 'batch id', cleanup: 'compact', description: 'Batch manifests' },
  enriched: { suffix: 'state.enriched', schema: 'SubmissionEnriched', key: 'submission hash', cleanup: 'compact', description: 'Submission with parcel, zoning, overlay, fee and history lookups' },
  validated: { suffix: 'state.validated', schema: 'SubmissionValidated', key: 'submission hash', cleanup: 'compact', description: 'Submission with rule findings' },
  accepted: { suffix: 'state.accepted', schema: 'SubmissionAccepted', key: 'submission hash', cleanup: 'compact', description: 'Accepted: a permit for review' },
  rejected: { suffix: 'state.rejected', schema: 'SubmissionRejected', key: 'submission hash', cleanup: 'compact', description: 'Rejected with actionable reasons' },
  retryEnrich1: { suffix: 'retry.enrich.1', schema: 'SubmissionChunked', key: 'submission hash', cleanup: 'delete', retentionMs: 7 * DAY_MS, retry: 1, description: 'Enrichment retry, first delay' },
  retryEnrich2: { suffix: 'retry.enrich.2', schema: 'SubmissionChunked', key: 'submission hash', cleanup: 'delete', retentionMs: 7 * DAY_MS, retry: 2, description: 'Enrichment retry, second delay' },
  retryEnrich3: { suffix: 'retry.enrich.3', schema: 'SubmissionChunked', key: 'submission hash', cleanup: 'delete', retentionMs: 7 * DAY_MS, retry: 3, description: 'Enrichment retry, last delay' },
  dlq: { suffix: 'dlq', schema: 'DeadLetter', key: 'submission hash', cleanup: 'delete', retentionMs: 365 * DAY_MS, description: 'Records a stage gave up on, with cause and original bytes' },
} as const satisfies Record<TopicId, TopicDef>;

/**
 * The processor graph, assembled from each processor's declaration (`processors/<name>/topology.ts`,
 * see topology/contract.ts): who reads and writes what, and which stores and retry topics each
 * has. Consumer groups are named after processors.
 */
export const PROCESSORS = {
  extractor: EXTRACTOR,
  windower: WINDOWER,
  enricher: ENRICHER,
  validator: VALIDATOR,
  decider: DECIDER,
  'read-model': READ_MODEL,
  notifier: NOTIFIER,
  archiver: ARCHIVER,
} as const satisfies { [Id in string]: ProcessorDeclaration<Id> };

export type ProcessorId = keyof typeof PROCESSORS;

type ProcessorDef = ProcessorDeclaration;

export type ConnectorId = 'file-drop' | 'dlq-replay';

interface ConnectorDef {
  outputs: readonly TopicId[];
  /** State stores, like a processor's (changelog topics derived from their names). */
  stores: readonly string[];
  description: string;
}

/** Connectors that write into the topology from outside and keep state of their own. */
export const CONNECTORS = {
  'file-drop': {
    outputs: ['raw', 'dlq'],
    // Import progress, written in the same transactions as the rows it covers.
    stores: ['checkpoints'],
    description: 'CSV/JSONL importer: rows to raw, bad rows to the DLQ, progress to its checkpoints store',
  },
  'dlq-replay': {
    // Only the input topics of the stages that dead-letter: never a state topic, the DLQ or a sink's input.
    outputs: ['raw', 'extract', 'chunked', 'retryEnrich1', 'retryEnrich2', 'retryEnrich3', 'enriched', 'validated'],
    // The letters already replayed, keyed by DLQ position, written in the replay's transaction.
    stores: ['replays'],
    description: '`permitflow dlq replay`: original records back to their stage input, each letter marked replayed',
  },
} as const satisfies Record<ConnectorId, ConnectorDef>;

/** Whatever owns state stores or a Kafka identity: a processor or a connector. */
export type OwnerId = ProcessorId | ConnectorId;

export const DEFAULT_NAMESPACE = 'permits';

export interface TopologyOptions {
  namespace: string;
  partitions: number;
  replicationFactor: number;
  minCompactionLagMs: number;
  /** Delays of the retry topics, first to last (default 10 s, 1 min, 10 min). */
  retryDelaysMs?: readonly number[];
}

export const DEFAULT_RETRY_DELAYS_MS = [10_000, 60_000, 600_000] as const;

export interface TopicSpec {
  id: TopicId;
  name: string;
  schema: SchemaName;
  subject: string;
  partitions: number;
  replicationFactor: number;
  config: Record<string, string>;
  def: TopicDef;
  /** Records of a retry topic are due this long after they were written; the runtime waits for them. */
  delayMs?: number;
}

/** A processor's state-store changelog: compacted, co-partitioned with its inputs, raw bytes. */
export interface ChangelogSpec {
  processor: OwnerId;
  store: string;
  name: string;
  partitions: number;
  replicationFactor: number;
  config: Record<string, string>;
}

export interface Topology {
  options: TopologyOptions;
  topics: Record<TopicId, TopicSpec>;
  changelogs: ChangelogSpec[];
  /** Consumer group of a processor: `permitflow.<processor>` (namespaced outside the default namespace); a connector's Kafka identity prefix likewise. */
  group(owner: OwnerId): string;
  /** Changelog topic of a processor's or connector's state store. */
  changelog(owner: OwnerId, store: string): string;
}

function topicConfig(def: TopicDef, options: TopologyOptions): Record<string, string> {
  if (def.cleanup === 'compact') {
    return {
      'cleanup.policy': 'compact',
      // Audits read the full log: nothing is compacted away before this lag.
      'min.compaction.lag.ms': String(options.minCompactionLagMs),
      'min.insync.replicas': String(Math.min(2, options.replicationFactor)),
    };
  }
  return {
    'cleanup.policy': 'delete',
    'retention.ms': String(def.retentionMs),
    'min.insync.replicas': String(Math.min(2, options.replicationFactor)),
  };
}

export function buildTopology(options: TopologyOptions): Topology {
  const topics = {} as Record<TopicId, TopicSpec>;
  for (const [id, def] of Object.entries(TOPICS) as [TopicId, TopicDef][]) {
    const name = `${options.namespace}.${def.suffix}`;
    topics[id] = {
      id,
      name,
      schema: def.schema,
      subject: `${name}-value`,
      partitions: options.partitions,
      replicationFactor: options.replicationFactor,
      config: topicConfig(def, options),
      def,
      ...(def.retry !== undefined && { delayMs: (options.retryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS)[def.retry - 1] ?? DEFAULT_RETRY_DELAYS_MS[def.retry - 1] }),
    };
  }
  const groupPrefix = options.namespace === DEFAULT_NAMESPACE ? 'permitflow' : `permitflow.${options.namespace}`;
  const changelog = (owner: OwnerId, store: string) => `${options.namespace}.${owner}.${store}.changelog`;
  const owners = [...Object.entries(PROCESSORS), ...Object.entries(CONNECTORS)] as [OwnerId, { stores: readonly string[] }][];
  const changelogs = owners.flatMap(([processor, def]) =>
    def.stores.map((store) => ({
      processor,
      store,
      name: changelog(processor, store),
      partitions: options.partitions,
      replicationFactor: options.replicationFactor,
      config: { 'cleanup.policy': 'compact', 'min.insync.replicas': String(Math.min(2, options.replicationFactor)) },
    })),
  );
  return {
    options,
    topics,
    changelogs,
    group: (owner) => `${groupPrefix}.${owner}`,
    changelog,
  };
}

/** A printable description of the topology: topics with their configs, then the processor graph. */
export function describeTopology(topology: Topology): string {
  const lines: string[] = ['topics:'];
  for (const t of Object.values(topology.topics)) {
    const cfg = Object.entries(t.config).map(([k, v]) => `${k}=${v}`).join(' ');
    lines.push(`  ${t.name}  key=${t.def.key}  value=${t.schema}  partitions=${t.partitions}  ${cfg}`);
  }
  lines.push('processors:');
  for (const [id, p] of Object.entries(PROCESSORS) as [ProcessorId, ProcessorDef][]) {
    const name = (ids: readonly TopicId[]) => ids.map((i) => topology.topics[i].name).join(', ') || '-';
    lines.push(`  ${id}  group=${topology.group(id)}`);
    lines.push(`    reads:  ${name(p.inputs)}`);
    lines.push(`    writes: ${name(p.outputs)}`);
    if (p.stores.length > 0) lines.push(`    stores: ${p.stores.map((s) => topology.changelog(id, s)).join(', ')}`);
  }
  lines.push('connectors:');
  for (const [id, c] of Object.entries(CONNECTORS) as [ConnectorId, ConnectorDef][]) {
    lines.push(`  ${id}`);
    lines.push(`    writes: ${c.outputs.map((i) => topology.topics[i].name).join(', ')}`);
    if (c.stores.length > 0) lines.push(`    stores: ${c.stores.map((s) => topology.changelog(id, s)).join(', ')}`);
  }
  return lines.join('\n');
}
