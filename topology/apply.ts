/**
 * `permitflow topology apply`: creates or updates every topic of the catalogue and registers
 * every value schema with BACKWARD compatibility. Idempotent: a second run changes nothing.
 *
 * A topic that exists with a different partition count stops the run: co-partitioning is what
 * keeps one submission on one partition number everywhere, and Kafka cannot shrink a topic.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import kafkajs, { type Admin } from 'kafkajs';
import { PermitflowError } from '../lib/errors.ts';
import type { Serde } from '../schemas/serde.ts';
import type { Topology, TopicSpec } from './topics.ts';

// kafkajs is CommonJS; this enum is not visible to ESM named imports.
const { ConfigResourceTypes } = kafkajs;

export interface ApplyReport {
  created: string[];
  updated: string[];
  unchanged: string[];
  schemas: { subject: string; id: number }[];
}

async function existingTopics(admin: Admin, names: string[]): Promise<Map<string, number>> {
  const listed = new Set(await admin.listTopics());
  const present = names.filter((n) => listed.has(n));
  if (present.length === 0) return new Map();
  const { topics } = await admin.fetchTopicMetadata({ topics: present });
  return new Map(topics.map((t) => [t.name, t.partitions.length]));
}

const LEADER_WAIT_MS = 60_000;

/** Resolves once every partition of `topics` has a leader; metadata errors until then are expected. */
async function waitForLeaders(admin: Admin, topics: string[]): Promise<void> {
  const deadline = Date.now() + LEADER_WAIT_MS;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const { topics: described } = await admin.fetchTopicMetadata({ topics });
      if (described.length === topics.length && described.every((t) => t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0))) return;
    } catch (err) {
      lastError = err;
    }
    await sleep(100);
  }
  throw PermitflowError.retriable('PF_TOPIC_NOT_READY', `created topics have no leader after ${LEADER_WAIT_MS / 1000} s: ${topics.join(', ')}`, { cause: lastError });
}

async function configsDiffer(admin: Admin, topic: TopicLike): Promise<boolean> {
  const described = await admin.describeConfigs({
    includeSynonyms: false,
    resources: [{ type: ConfigResourceTypes.TOPIC, name: topic.name, configNames: Object.keys(topic.config) }],
  });
  const current = new Map(described.resources[0]?.configEntries.map((e) => [e.configName, e.configValue]) ?? []);
  return Object.entries(topic.config).some(([k, v]) => current.get(k) !== v);
}

/** What apply needs of a topic: catalogued topics and changelogs alike. */
type TopicLike = Pick<TopicSpec, 'name' | 'partitions' | 'replicationFactor' | 'config'>;

export async function applyTopology(topology: Topology, admin: Admin, serde: Serde): Promise<ApplyReport> {
  const specs: TopicLike[] = [...Object.values(topology.topics), ...topology.changelogs];
  const existing = await existingTopics(admin, specs.map((t) => t.name));
  const report: ApplyReport = { created: [], updated: [], unchanged: [], schemas: [] };

  for (const spec of specs) {
    const partitions = existing.get(spec.name);
    if (partitions !== undefined && partitions !== spec.partitions) {
      throw PermitflowError.permanent(
        'PF_TOPOLOGY_PARTITIONS',
        `topic ${spec.name} exists with ${partitions} partitions but the topology declares ${spec.partitions}; ` +
          'co-partitioned topics must match: recreate the topic or set PERMITFLOW_PARTITIONS to match',
        { context: { topic: spec.name, existing: partitions, declared: spec.partitions } },
      );
    }
  }

  const missing = specs.filter((s) => !existing.has(s.name));
  if (missing.length > 0) {
    await admin.createTopics({
      // kafkajs' own wait gives up on UNKNOWN_TOPIC_OR_PARTITION, which a busy broker answers
      // for a moment after the create; waitForLeaders below retries it.
      waitForLeaders: false,
      topics: missing.map((s) => ({
        topic: s.name,
        numPartitions: s.partitions,
        replicationFactor: s.replicationFactor,
        configEntries: Object.entries(s.config).map(([name, value]) => ({ name, value })),
      })),
    });
    await waitForLeaders(admin, missing.map((s) => s.name));
    report.created.push(...missing.map((s) => s.name));
  }

  for (const spec of specs.filter((s) => existing.has(s.name))) {
    if (await configsDiffer(admin, spec)) {
      await admin.alterConfigs({
        validateOnly: false,
        resources: [
          { type: ConfigResourceTypes.TOPIC, name: spec.name, configEntries: Object.entries(spec.config).map(([name, value]) => ({ name, value })) },
        ],
      });
      report.updated.push(spec.name);
    } else {
      report.unchanged.push(spec.name);
    }
  }

  // One subject per topic (topic-name strategy); retry topics share the chunked schema.
  for (const spec of Object.values(topology.topics)) {
    report.schemas.push({ subject: spec.subject, id: await serde.register(spec.subject, spec.schema) });
  }
  return report;
}
