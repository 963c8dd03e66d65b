/**
 * The real intake on the real stack, for integration tests: its own topic namespace, API key
 * file and loopback port; closed when the test ends.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { createApiKey } from '../../connectors/intake/api-keys.ts';
import { startIntake, type RunningIntake } from '../../connectors/intake/server.ts';
import { createObjectStore, type ObjectStore } from '../../connectors/object-store.ts';
import { readTopic } from '../../connectors/topic-reader.ts';
import type { Config } from '../../lib/config.ts';
import { createKafka } from '../../lib/kafka.ts';
import { createLogger } from '../../lib/logger.ts';
import { createRegistry, createSerde } from '../../schemas/serde.ts';
import type { SubmissionEnvelope } from '../../schemas/types.ts';
import type { Topology } from '../../topology/topics.ts';
import { testConfig, testTopology } from './stack.ts';

export interface IntakeOnStack {
  config: Config;
  topology: Topology;
  intake: RunningIntake;
  keys: { portal: string; reader: string };
  store: ObjectStore;
  rawRecords(): Promise<{ key: string | null; value: SubmissionEnvelope }[]>;
  /** Records on the raw topic (sum of end offsets), without reading them. */
  rawCount(): Promise<number>;
}

export const logger = createLogger({ level: 'warn', name: 'intake-test' });

export async function intakeOnStack(t: TestContext, env: Record<string, string> = {}): Promise<IntakeOnStack> {
  const keysFile = join(mkdtempSync(join(tmpdir(), 'permitflow-intake-it-')), 'api-keys.json');
  const config = await testConfig({ INTAKE_API_KEYS_FILE: keysFile, ...env });
  const topology = await testTopology(t, config);
  const portal = createApiKey(keysFile, { client: 'portal', scopes: ['submit', 'read'] });
  const reader = createApiKey(keysFile, { client: 'clerk-tool', scopes: ['read:any'] });
  const intake = await startIntake(config, { logger, port: 0 });
  t.after(() => intake.close());
  const store = createObjectStore(config);
  t.after(() => store.close());
  const kafka = createKafka(config, logger);
  const serde = createSerde(createRegistry(config));
  return {
    config,
    topology,
    intake,
    keys: { portal: portal.key, reader: reader.key },
    store,
    rawRecords: () => readTopic<SubmissionEnvelope>(kafka, serde, topology.topics.raw),
    async rawCount() {
      const admin = kafka.admin();
      await admin.connect();
      try {
        const offsets = await admin.fetchTopicOffsets(topology.topics.raw.name);
        return offsets.reduce((sum, p) => sum + Number(p.high), 0);
      } finally {
        await admin.disconnect();
      }
    },
  };
}

/** Polls until `probe` returns a value, or fails after the deadline. */
export async function eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
