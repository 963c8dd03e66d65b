/**
 * How integration tests reach the real services. The usual path: the local stack started by
 * `make test` (its env file supplies every endpoint). On a machine with Docker and no stack
 * configured, testcontainers starts an equivalent one (Redpanda with its registry, MinIO,
 * Redis, PostgreSQL). Each test gets its own topic namespace, so tests never share topics.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import type { TestContext } from 'node:test';
import { envFilePath, loadConfig, type Config } from '../../lib/config.ts';
import { createKafka } from '../../lib/kafka.ts';
import { createLogger } from '../../lib/logger.ts';
import { createRegistry, createSerde } from '../../schemas/serde.ts';
import { applyTopology } from '../../topology/apply.ts';
import { buildTopology, type Topology } from '../../topology/topics.ts';

let containerEnv: Promise<Record<string, string>> | undefined;

async function baseEnv(): Promise<NodeJS.ProcessEnv> {
  if (existsSync(envFilePath()) || process.env.KAFKA_BROKERS) return process.env;
  containerEnv ??= import('./containers.ts')
    .then((m) => m.startContainers())
    .catch((err: unknown) => {
      throw new Error(`no local stack (${envFilePath()} is missing) and no usable Docker for testcontainers: run \`make test\` or \`npx permitflow stack up\` first`, { cause: err });
    });
  return { ...process.env, ...(await containerEnv) };
}

/** A configuration pointing at the real services, with a namespace unique to this test. */
export async function testConfig(overrides: Record<string, string> = {}): Promise<Config> {
  const namespace = `t${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
  return loadConfig({ ...(await baseEnv()), LOG_LEVEL: 'warn', PERMITFLOW_TOPIC_NAMESPACE: namespace, PERMITFLOW_PARTITIONS: '3', ...overrides });
}

/** Creates this test's topics and schemas, and removes the topics when the test ends. */
export async function testTopology(t: TestContext, config: Config): Promise<Topology> {
  const topology = buildTopology(config.topology);
  const kafka = createKafka(config, createLogger({ level: 'warn' }));
  const admin = kafka.admin();
  await admin.connect();
  await applyTopology(topology, admin, createSerde(createRegistry(config)));
  t.after(async () => {
    // Only topics that exist: kafkajs retries a deletion naming a missing topic for a minute.
    const existing = new Set(await admin.listTopics());
    const names = [...Object.values(topology.topics).map((s) => s.name), ...topology.changelogs.map((c) => c.name)].filter((n) => existing.has(n));
    if (names.length > 0) await admin.deleteTopics({ topics: names }).catch(() => undefined);
    await admin.disconnect();
  });
  return topology;
}
