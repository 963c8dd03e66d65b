import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfig } from '../../lib/config.ts';
import { createKafka } from '../../lib/kafka.ts';
import { createLogger } from '../../lib/logger.ts';
import { runProcessor } from '../../processors/runtime/runner.ts';
import { createRegistry, createSerde } from '../../schemas/serde.ts';
import { buildTopology } from '../../topology/topics.ts';

test('a processor whose inputs differ from the topology graph does not start', () => {
  const config = loadConfig({ KAFKA_BROKERS: '127.0.0.1:1' });
  const topology = buildTopology(config.topology);
  const logger = createLogger({ level: 'silent' });
  const definition = { id: 'validator' as const, inputs: [topology.topics.validated], process: () => Promise.resolve([]) };
  assert.throws(
    () => runProcessor(createKafka(config, logger), createSerde(createRegistry(config)), definition, { topology, logger, workerId: 'test', ...config.runtime }),
    /processor validator reads .*validated, but the topology graph says .*enriched/,
  );
});
