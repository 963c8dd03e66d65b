import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConfigError, loadConfig, OPTIONS } from '../../lib/config.ts';

const noEnvFile = { PERMITFLOW_ENV_FILE: '/nonexistent/stack.env' };

test('defaults give a complete local configuration', () => {
  const config = loadConfig(noEnvFile);
  assert.deepEqual(config.kafka.brokers, ['127.0.0.1:19092']);
  assert.equal(config.topology.namespace, 'permits');
  assert.equal(config.topology.partitions, 6);
  assert.equal(config.registry.url, 'http://127.0.0.1:18081/apis/ccompat/v7');
  assert.equal(config.stack.ports.postgres, 15432);
  assert.equal(config.s3.accessKeyId, undefined, 'secrets have no default');
});

test('a bad value names the variable and what is expected', () => {
  assert.throws(
    () => loadConfig({ ...noEnvFile, PERMITFLOW_PARTITIONS: 'six' }),
    (err: unknown) => err instanceof ConfigError && /PERMITFLOW_PARTITIONS="six": expected a positive whole number/.test(err.message),
  );
  assert.throws(
    () => loadConfig({ ...noEnvFile, KAFKA_BROKERS: 'localhost' }),
    (err: unknown) => err instanceof ConfigError && /KAFKA_BROKERS="localhost": expected host:port/.test(err.message),
  );
});

test('every problem is listed, not only the first', () => {
  assert.throws(
    () => loadConfig({ ...noEnvFile, PERMITFLOW_KAFKA_PORT: '99999', REDIS_URL: 'http://x', S3_FORCE_PATH_STYLE: 'maybe' }),
    (err: unknown) => err instanceof ConfigError && err.problems.length === 3,
  );
});

test('SASL needs credentials', () => {
  assert.throws(() => loadConfig({ ...noEnvFile, KAFKA_SASL_MECHANISM: 'scram-sha-512' }), /KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD/);
});

test('the stack env file fills in, the process environment wins', () => {
  const dir = mkdtempSync(join(tmpdir(), 'permitflow-config-'));
  const file = join(dir, 'stack.env');
  writeFileSync(file, 'KAFKA_BROKERS=10.0.0.1:9092\nS3_ACCESS_KEY_ID=from-file\nREDIS_URL=redis://127.0.0.1:1\n');
  const config = loadConfig({ PERMITFLOW_ENV_FILE: file, REDIS_URL: 'redis://127.0.0.1:2' });
  assert.deepEqual(config.kafka.brokers, ['10.0.0.1:9092']);
  assert.equal(config.s3.accessKeyId, 'from-file');
  assert.equal(config.redis.url, 'redis://127.0.0.1:2');
});

test('every option is documented with a description', () => {
  for (const [name, option] of Object.entries(OPTIONS)) assert.ok(option.description.length > 5, name);
});
