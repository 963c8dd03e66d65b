/**
 * docker-compose.yml cannot run here (no Docker engine), so this test keeps it honest: every
 * permitflow service's environment names only options lib/config.ts knows, sets every endpoint,
 * and passes the same start-up validation the processes run.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse } from 'yaml';
import { loadConfig, OPTIONS, REPO_ROOT } from '../../lib/config.ts';

interface Service {
  image?: string;
  command?: string[];
  environment?: Record<string, string>;
}

const compose = parse(readFileSync(join(REPO_ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as { services: Record<string, Service> };
const permitflowServices = Object.entries(compose.services).filter(([, s]) => s.image === 'permitflow:local');

/** Compose interpolation `${VAR:?message}` with a stand-in value, as a user's .env would supply. */
function interpolate(value: string): string {
  return String(value).replace(/\$\{(\w+)(?::\?[^}]*)?\}/g, (_m, name: string) => `test-${name.toLowerCase()}`);
}

test('the compose file runs the topology job and every processor', () => {
  const commands = permitflowServices.map(([, s]) => (s.command ?? []).join(' '));
  for (const expected of ['topology apply', 'intake', 'run windower', 'run enricher', 'run validator', 'run decider', 'run read-model']) {
    assert.ok(commands.includes(expected), `no service runs \`permitflow ${expected}\``);
  }
  assert.ok(compose.services.console, 'Redpanda Console is part of the stack');
});

test("every permitflow service's environment matches the config module", () => {
  const required = ['KAFKA_BROKERS', 'SCHEMA_REGISTRY_URL', 'S3_ENDPOINT', 'S3_BUCKET', 'S3_ACCESS_KEY_ID', 'S3_SECRET_ACCESS_KEY', 'REDIS_URL', 'DATABASE_URL'];
  for (const [name, service] of permitflowServices) {
    const env = Object.fromEntries(Object.entries(service.environment ?? {}).map(([k, v]) => [k, interpolate(v)]));
    for (const key of Object.keys(env)) assert.ok(key in OPTIONS, `${name}: ${key} is not an option of lib/config.ts`);
    for (const key of required) assert.ok(env[key], `${name}: ${key} is not set`);
    const config = loadConfig({ ...env, PERMITFLOW_ENV_FILE: '/nonexistent' });
    assert.deepEqual(config.kafka.brokers, ['redpanda:9092'], name);
    assert.equal(config.s3.bucket, 'permitflow', name);
  }
});

test('Redpanda Console decodes topics through the registry the services use', () => {
  const console = compose.services.console!.environment!;
  const services = permitflowServices[0]![1].environment!;
  assert.equal(console.KAFKA_SCHEMAREGISTRY_ENABLED, 'true');
  assert.equal(console.KAFKA_SCHEMAREGISTRY_URLS, services.SCHEMA_REGISTRY_URL);
});

test('no secret is written into the compose file', () => {
  for (const [, service] of Object.entries(compose.services)) {
    for (const [key, value] of Object.entries(service.environment ?? {})) {
      if (/PASSWORD|SECRET/.test(key)) assert.match(String(value), /^\$\{\w+:\?/, `${key} must come from the environment`);
    }
  }
});
