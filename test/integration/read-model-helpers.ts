/**
 * Helpers for the read-model tests: a PostgreSQL schema of the test's own (dropped afterwards),
 * a synthetic but co-partitioned set of state records, manifests and dead letters produced
 * straight onto the topics, and the read model's counts to compare with them.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { TestContext } from 'node:test';
import type pg from 'pg';
import { migrate, quoteIdent } from '../../connectors/read-model/migrate.ts';
import { createReadModelPool } from '../../connectors/read-model/pool.ts';
import type { Config } from '../../lib/config.ts';
import { createKafka } from '../../lib/kafka.ts';
import { createLogger } from '../../lib/logger.ts';
import { createRegistry, createSerde, type Serde } from '../../schemas/serde.ts';
import type { BatchManifest, DeadLetter, PayloadRef, StateHeader } from '../../schemas/types.ts';
import { PROCESSORS, type TopicId, type Topology } from '../../topology/topics.ts';
import { testConfig } from '../support/stack.ts';

export const logger = createLogger({ level: 'warn' });

/** A PostgreSQL schema name no other test uses. */
export const uniqueSchema = (): string => `rm_${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;

/** A pool on `config`'s read-model schema, migrated now and dropped when the test ends. */
export async function readModelPool(t: TestContext, config: Config): Promise<pg.Pool> {
  const pool = createReadModelPool(config, { applicationName: 'permitflow-test', max: 3 });
  t.after(async () => {
    await pool.query(`DROP SCHEMA IF EXISTS ${quoteIdent(config.readModel.schema)} CASCADE`).catch(() => undefined);
    await pool.end();
  });
  await migrate(pool, config.readModel.schema);
  return pool;
}

/** A test config whose read model lives in a schema of its own (dropped when the test ends). */
export async function readModelConfig(t: TestContext, overrides: Record<string, string> = {}): Promise<{ config: Config; pool: pg.Pool }> {
  const config = await testConfig({ READ_MODEL_SCHEMA: uniqueSchema(), ...overrides });
  return { config, pool: await readModelPool(t, config) };
}

export type Outcome = 'accepted' | 'rejected' | 'dead_lettered';

export interface Member {
  hash: string;
  batchId: string;
  partition: number;
  outcome: Outcome;
  sourceReference: string;
}

export interface Synthetic {
  members: Member[];
  manifests: BatchManifest[];
  /** Records per topic, each with the partition it goes to (co-partitioned by submission). */
  records: Map<TopicId, Array<{ key: string; value: unknown; partition?: number }>>;
}

const sha = (s: string) => createHash('sha256').update(s).digest('hex');
const PAYLOAD: PayloadRef = { contentType: 'application/json', size: 2, sha256: sha('{}'), inline: Buffer.from('{}'), objectKey: null };

/** Outcome by position: every tenth member dead-lettered by the validator, three in ten rejected. */
export const outcomeOf = (i: number): Outcome => (i % 10 === 0 ? 'dead_lettered' : i % 10 <= 3 ? 'rejected' : 'accepted');

/**
 * Batches of `batchSize` members on each partition, every member through the pipeline to its
 * outcome, as the processors would write them (dead letters carry the original record bytes).
 */
export async function synthetic(serde: Serde, topology: Topology, options: { batchesPerPartition: number; batchSize: number; tag?: string }): Promise<Synthetic> {
  const partitions = topology.options.partitions;
  const members: Member[] = [];
  const manifests: BatchManifest[] = [];
  const records = new Map<TopicId, Array<{ key: string; value: unknown; partition?: number }>>();
  const push = (id: TopicId, key: string, value: unknown, partition?: number) => records.set(id, [...(records.get(id) ?? []), { key, value, ...(partition !== undefined && { partition }) }]);
  const tag = options.tag ?? topology.options.namespace;

  for (let p = 0; p < partitions; p++) {
    for (let b = 0; b < options.batchesPerPartition; b++) {
      const batchId = `batch-${tag}-${p}-${b}`;
      const hashes: string[] = [];
      for (let i = 0; i < options.batchSize; i++) {
        const hash = sha(`${tag}/${p}/${b}/${i}`);
        const member: Member = { hash, batchId, partition: p, outcome: outcomeOf(i), sourceReference: `REF-${p}-${b}-${i}` };
        members.push(member);
        hashes.push(hash);
        const header = (state: StateHeader['state'], worker: string): StateHeader => ({
          submissionHash: hash,
          state,
          batchId: state === 'received' ? null : batchId,
          idempotencyKey: state === 'received' ? hash : sha(batchId),
          at: Date.now(),
          workerId: worker,
          attempt: 1,
          traceparent: `00-${sha(hash).slice(0, 32)}-${sha(state).slice(0, 16)}-01`,
        });
        push('received', hash, { header: header('received', 'windower-1'), source: 'test', sourceClient: null, sourceReference: member.sourceReference, receivedAt: Date.now(), rawOffset: i, payload: PAYLOAD, attachments: [] }, p);
        push('chunked', hash, { header: header('chunked', 'windower-1'), batchSize: options.batchSize, sourceReference: member.sourceReference, receivedAt: Date.now(), payload: PAYLOAD, attachments: [] }, p);
        const enriched = { header: header('enriched', 'enricher-1'), payload: PAYLOAD, attachments: [], lookups: [] };
        push('enriched', hash, enriched, p);
        if (member.outcome === 'dead_lettered') {
          const letter: DeadLetter = {
            submissionHash: hash,
            batchId: null,
            stage: 'validator',
            consumerGroup: topology.group('validator'),
            errorClass: 'PF_PAYLOAD_NOT_JSON',
            errorMessage: 'payload is not JSON',
            errorChain: ['PF_PAYLOAD_NOT_JSON: payload is not JSON'],
            attempt: 1,
            firstFailureAt: Date.now(),
            lastFailureAt: Date.now(),
            originalTopic: topology.topics.enriched.name,
            originalPartition: p,
            originalOffset: b * options.batchSize + i,
            originalTimestamp: Date.now(),
            originalKey: Buffer.from(hash),
            originalValue: await serde.encode(topology.topics.enriched, enriched),
            originalHeaders: {},
            traceId: null,
            workerId: 'validator-1',
            parked: false,
          };
          push('dlq', hash, letter, p);
          continue;
        }
        const findings = member.outcome === 'rejected' ? [{ code: 'FEE_UNDERPAID', severity: 'ERROR', field: '/payment/amountPaid', message: 'Pay the remaining $10.00', ruleSetVersion: 'us-or-cedar-county@2026.11' }] : [];
        push('validated', hash, { header: header('validated', 'validator-1'), payload: PAYLOAD, ruleSetVersion: 'us-or-cedar-county@2026.11', findings, computedFeeCents: 1000, paidFeeCents: 0 }, p);
        if (member.outcome === 'rejected') push('rejected', hash, { header: header('rejected', 'decider-1'), reasons: [{ code: 'FEE_UNDERPAID', field: '/payment/amountPaid', message: 'Pay the remaining $10.00' }] }, p);
        else push('accepted', hash, { header: header('accepted', 'decider-1'), jurisdiction: 'us-or-cedar-county', permitType: 'Building', parcelNumber: null, reviewTrack: 'standard', computedFeeCents: 1000, warnings: [] }, p);
      }
      const manifest: BatchManifest = {
        batchId,
        idempotencyKey: sha(batchId),
        partition: p,
        members: hashes,
        count: hashes.length,
        bytes: hashes.length * 2,
        openedAt: Date.now(),
        closedAt: Date.now(),
        closeReason: 'COUNT',
        firstOffset: 0,
        lastOffset: hashes.length - 1,
        archiveKey: null,
        workerId: 'windower-1',
      };
      manifests.push(manifest);
      push('batches', batchId, manifest);
    }
  }
  return { members, manifests, records };
}

/** Produces records onto this test's topics (plain idempotent producer: the sink reads committed data). */
export async function produce(config: Config, topology: Topology, id: TopicId, records: Array<{ key: string; value: unknown; partition?: number }>): Promise<void> {
  const kafka = createKafka(config, logger);
  const serde = createSerde(createRegistry(config));
  const producer = kafka.producer({ idempotent: true });
  await producer.connect();
  try {
    const topic = topology.topics[id];
    const messages = await Promise.all(records.map(async (r) => ({ key: r.key, value: await serde.encode(topic, r.value), ...(r.partition !== undefined && { partition: r.partition }) })));
    for (let i = 0; i < messages.length; i += 500) await producer.send({ topic: topic.name, acks: -1, messages: messages.slice(i, i + 500) });
  } finally {
    await producer.disconnect();
  }
}

export async function produceAll(config: Config, topology: Topology, data: Synthetic, only?: TopicId[]): Promise<void> {
  for (const [id, records] of data.records) if (!only || only.includes(id)) await produce(config, topology, id, records);
}

export interface Counts {
  events: Record<string, number>;
  submissions: Record<string, number>;
  deadLetters: number;
  batches: number;
  completeBatches: number;
  permits: number;
}

export async function counts(pool: pg.Pool): Promise<Counts> {
  const group = async (sql: string) => Object.fromEntries((await pool.query<{ k: string; n: string }>(sql)).rows.map((r) => [r.k, Number(r.n)]));
  const one = async (sql: string) => Number((await pool.query<{ n: string }>(sql)).rows[0]!.n);
  return {
    events: await group('SELECT state AS k, count(*) AS n FROM submission_events GROUP BY state'),
    submissions: await group('SELECT status AS k, count(*) AS n FROM submissions GROUP BY status'),
    deadLetters: await one('SELECT count(*) AS n FROM dead_letters'),
    batches: await one('SELECT count(*) AS n FROM batches WHERE member_count IS NOT NULL'),
    completeBatches: await one('SELECT count(*) AS n FROM batches WHERE complete'),
    permits: await one('SELECT count(*) AS n FROM permits'),
  };
}

/** What the read model must hold for a synthetic data set. */
export function expectedCounts(data: Synthetic): Counts {
  const n = (o: Outcome) => data.members.filter((m) => m.outcome === o).length;
  const all = data.members.length;
  return {
    events: { received: all, chunked: all, enriched: all, validated: all - n('dead_lettered'), accepted: n('accepted'), rejected: n('rejected') },
    submissions: { accepted: n('accepted'), rejected: n('rejected'), dead_lettered: n('dead_lettered') },
    deadLetters: n('dead_lettered'),
    batches: data.manifests.length,
    completeBatches: data.manifests.length,
    permits: n('accepted'),
  };
}

/**
 * Batch-atomicity violations visible right now: permits of a batch that is not complete, or a
 * complete batch whose permits are not all there (or too many).
 */
export async function partialBatches(pool: pg.Pool): Promise<string[]> {
  const { rows } = await pool.query<{ batch_id: string; complete: boolean; accepted_count: number; permits: string; accepted_events: string }>(
    `SELECT b.batch_id, b.complete, b.accepted_count,
            (SELECT count(*) FROM permits p WHERE p.batch_id = b.batch_id) AS permits,
            (SELECT count(*) FROM batch_members m JOIN submissions s ON s.submission_hash = m.submission_hash AND s.status = 'accepted' WHERE m.batch_id = b.batch_id) AS accepted_events
       FROM batches b`,
  );
  return rows
    .filter((r) => (r.complete ? Number(r.permits) !== r.accepted_count || r.accepted_count !== Number(r.accepted_events) : Number(r.permits) !== 0))
    .map((r) => `${r.batch_id}: complete=${r.complete} accepted=${r.accepted_count} permits=${r.permits}`);
}

/**
 * Whether the sink has applied every record now on its input topics (the stored offset of each
 * partition is its end). Exact for records from plain producers, as these tests write them.
 */
export async function caughtUp(config: Config, topology: Topology, pool: pg.Pool): Promise<boolean> {
  const admin = createKafka(config, logger).admin();
  await admin.connect();
  try {
    const stored = new Map((await pool.query<{ topic: string; partition: number; next_offset: string }>('SELECT topic, partition, next_offset FROM sink_offsets')).rows.map((r) => [`${r.topic}/${r.partition}`, r.next_offset]));
    for (const id of PROCESSORS['read-model'].inputs) {
      const name = topology.topics[id].name;
      for (const o of await admin.fetchTopicOffsets(name)) if (o.high !== o.low && stored.get(`${name}/${o.partition}`) !== o.high) return false;
    }
    return true;
  } finally {
    await admin.disconnect();
  }
}
