/**
 * A benchmark run's footprint on the shared local stack, created before and removed after: a
 * topic namespace (topics and their registry subjects), a read-model schema in PostgreSQL, and
 * the batch archives its windower wrote to MinIO (deleted with the stack's root credentials:
 * the application's own user may not delete, by design).
 */
import { DeleteObjectsCommand, S3Client } from '@aws-sdk/client-s3';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { migrate } from '../../connectors/read-model/migrate.ts';
import { createReadModelPool } from '../../connectors/read-model/pool.ts';
import { loadConfig, type Config } from '../../lib/config.ts';
import { createKafka } from '../../lib/kafka.ts';
import { createLogger } from '../../lib/logger.ts';
import { loadSecrets } from '../../ops/stack/secrets.ts';
import { stackPaths } from '../../ops/stack/service.ts';
import { createRegistry, createSerde } from '../../schemas/serde.ts';
import { applyTopology } from '../../topology/apply.ts';
import { buildTopology, type Topology } from '../../topology/topics.ts';

const logger = createLogger({ level: 'warn', name: 'bench-e2e' });

export interface Namespace {
  /** Variables that point a child process (or this one) at the namespace. */
  env: Record<string, string>;
  config: Config;
  topology: Topology;
  pool: pg.Pool;
  cleanup(): Promise<void>;
}

export async function createNamespace(extraEnv: Record<string, string>): Promise<Namespace> {
  const id = randomBytes(4).toString('hex');
  const env = { PERMITFLOW_TOPIC_NAMESPACE: `e2e${id}`, PERMITFLOW_PARTITIONS: '6', READ_MODEL_SCHEMA: `e2e_${id}`, LOG_LEVEL: 'warn', METRICS_PORT: '0', ...extraEnv };
  const config = loadConfig({ ...process.env, ...env });
  const topology = buildTopology(config.topology);
  const kafka = createKafka(config, logger);
  const admin = kafka.admin();
  await admin.connect();
  try {
    await applyTopology(topology, admin, createSerde(createRegistry(config)));
  } finally {
    await admin.disconnect();
  }
  const pool = createReadModelPool(config, { applicationName: 'bench-e2e', max: 2 });
  // The tables exist before any stage starts, so progress can be read from the first moment.
  await migrate(pool, config.readModel.schema);
  const cleanup = async (): Promise<void> => {
    const problems: string[] = [];
    const step = async (what: string, fn: () => Promise<unknown>) => fn().catch((err: unknown) => problems.push(`${what}: ${(err as Error).message}`));
    await step('batch archives', () => deleteArchives(config, pool));
    await step('read-model schema', () => pool.query(`DROP SCHEMA IF EXISTS ${config.readModel.schema} CASCADE`));
    await pool.end();
    await step('topics', () => deleteTopics(config, topology));
    await step('registry subjects', () => deleteSubjects(config, topology));
    if (problems.length > 0) console.error(`bench e2e: cleanup of ${env.PERMITFLOW_TOPIC_NAMESPACE} left something behind:\n  ${problems.join('\n  ')}`);
  };
  return { env, config, topology, pool, cleanup };
}

async function deleteArchives(config: Config, pool: pg.Pool): Promise<void> {
  const exists = await pool.query(`SELECT 1 FROM information_schema.tables WHERE table_schema = $1 AND table_name = 'batches'`, [config.readModel.schema]);
  if (exists.rowCount === 0) return;
  const { rows } = await pool.query<{ archive_key: string }>('SELECT archive_key FROM batches WHERE archive_key IS NOT NULL');
  if (rows.length === 0) return;
  const secrets = loadSecrets(stackPaths(config).dir, false);
  if (!secrets) throw new Error('no stack secrets to delete the batch archives with');
  const s3 = new S3Client({
    region: config.s3.region,
    forcePathStyle: true,
    ...(config.s3.endpoint && { endpoint: config.s3.endpoint }),
    credentials: { accessKeyId: secrets.minioRootUser, secretAccessKey: secrets.minioRootPassword },
  });
  try {
    const keys = rows.map((r) => r.archive_key);
    for (let i = 0; i < keys.length; i += 1000) {
      await s3.send(new DeleteObjectsCommand({ Bucket: config.s3.bucket, Delete: { Objects: keys.slice(i, i + 1000).map((Key) => ({ Key })), Quiet: true } }));
    }
  } finally {
    s3.destroy();
  }
}

async function deleteTopics(config: Config, topology: Topology): Promise<void> {
  const admin = createKafka(config, logger).admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    // Only topics that exist: kafkajs retries a deletion naming a missing topic for a minute.
    const names = [...Object.values(topology.topics).map((t) => t.name), ...topology.changelogs.map((c) => c.name)].filter((n) => existing.has(n));
    if (names.length > 0) await admin.deleteTopics({ topics: names, timeout: 60_000 });
  } finally {
    await admin.disconnect();
  }
}

/** Soft then permanent delete (the Confluent API's two steps) of every subject the namespace registered. */
async function deleteSubjects(config: Config, topology: Topology): Promise<void> {
  const auth = config.registry.auth ? { authorization: `Basic ${Buffer.from(`${config.registry.auth.username}:${config.registry.auth.password}`).toString('base64')}` } : {};
  const subjects = new Set(Object.values(topology.topics).map((t) => t.subject));
  for (const subject of subjects) {
    for (const query of ['', '?permanent=true']) {
      const res = await fetch(`${config.registry.url}/subjects/${encodeURIComponent(subject)}${query}`, { method: 'DELETE', headers: auth, signal: AbortSignal.timeout(10_000) });
      if (res.status !== 200 && res.status !== 404) throw new Error(`DELETE subject ${subject}${query} answered ${res.status}`);
    }
  }
}
