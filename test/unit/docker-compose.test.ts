/**
 * docker-compose.yml cannot run here (no Docker engine), so this test keeps it honest: every
 * permitflow service's environment names only options lib/config.ts knows, sets every endpoint,
 * and passes the same start-up validation the processes run; only the intake is published beyond
 * loopback; the processors get a bucket-scoped MinIO user; the image holds what they read.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import { parse } from 'yaml';
import { loadConfig, OPTIONS, REPO_ROOT } from '../../lib/config.ts';
import { archiverPolicy, bucketPolicy } from '../../ops/minio/admin.ts';

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

interface Published {
  ports?: string[];
}

test('every published port but the intake API is bound to 127.0.0.1', () => {
  const services = compose.services as Record<string, Service & Published>;
  const published = Object.entries(services).flatMap(([name, s]) => (s.ports ?? []).map((p) => ({ name, port: String(p) })));
  assert.ok(published.length >= 8, 'the operator UIs and endpoints are published');
  for (const { name, port } of published) {
    if (name === 'intake') continue;
    assert.match(port, /^127\.0\.0\.1:\d+:\d+$/, `${name} publishes ${port} on every interface`);
  }
});

test("the processors use a bucket-scoped MinIO user created by the init service, never MinIO's root credentials", () => {
  const services = compose.services as Record<string, Service & { volumes?: string[]; environment?: Record<string, string> }>;
  const minio = services.minio!.environment!;
  const app = permitflowServices[0]![1].environment!;
  assert.notEqual(app.S3_ACCESS_KEY_ID, minio.MINIO_ROOT_USER);
  assert.notEqual(app.S3_SECRET_ACCESS_KEY, minio.MINIO_ROOT_PASSWORD);
  for (const [name, service] of permitflowServices) {
    const values = Object.values(service.environment ?? {}).join('\n');
    assert.ok(!values.includes(minio.MINIO_ROOT_PASSWORD!), `${name} gets MinIO's root password`);
  }
  // The init service creates that very user and attaches the policy the local stack uses.
  const init = services['minio-bucket']!;
  const script = (init.command ?? []).join(' ');
  assert.equal(init.environment!.APP_ACCESS_KEY_ID, app.S3_ACCESS_KEY_ID);
  assert.equal(init.environment!.APP_SECRET_ACCESS_KEY, app.S3_SECRET_ACCESS_KEY);
  assert.match(script, /mc admin user add local "\$\$APP_ACCESS_KEY_ID" "\$\$APP_SECRET_ACCESS_KEY"/);
  assert.match(script, /mc admin policy create local permitflow-app \/etc\/permitflow\/app-policy\.json/);
  assert.match(script, /mc admin policy attach local permitflow-app --user "\$\$APP_ACCESS_KEY_ID"/);
  const mount = (init.volumes ?? []).find((v) => v.endsWith(':/etc/permitflow/app-policy.json:ro'));
  assert.ok(mount, 'the policy file is mounted into the init service');
  const policy: unknown = JSON.parse(readFileSync(join(REPO_ROOT, mount.split(':')[0]!), 'utf8'));
  assert.deepEqual(policy, bucketPolicy(app.S3_BUCKET!));
  // And the archiver's own user, limited to audit/ of the audit bucket, which the archiver uses.
  const archiver = services.archiver!.environment!;
  assert.equal(init.environment!.ARCHIVER_ACCESS_KEY_ID, archiver.AUDIT_S3_ACCESS_KEY_ID);
  assert.equal(init.environment!.ARCHIVER_SECRET_ACCESS_KEY, archiver.AUDIT_S3_SECRET_ACCESS_KEY);
  assert.match(script, /mc admin policy create local permitflow-archiver \/etc\/permitflow\/archiver-policy\.json/);
  assert.match(script, /mc admin policy attach local permitflow-archiver --user "\$\$ARCHIVER_ACCESS_KEY_ID"/);
  const archiverMount = (init.volumes ?? []).find((v) => v.endsWith(':/etc/permitflow/archiver-policy.json:ro'));
  assert.ok(archiverMount, "the archiver's policy file is mounted into the init service");
  assert.deepEqual(JSON.parse(readFileSync(join(REPO_ROOT, archiverMount.split(':')[0]!), 'utf8')), archiverPolicy(archiver.S3_AUDIT_BUCKET!));
});

/** Every repository file the CLI can load, following relative imports (static and dynamic) from bin/. */
function cliSourceFiles(): Set<string> {
  const seen = new Set<string>();
  const pending = [join(REPO_ROOT, 'bin/permitflow.js'), join(REPO_ROOT, 'cli/main.ts')];
  while (pending.length > 0) {
    const file = pending.pop()!;
    if (seen.has(file) || !existsSync(file)) continue;
    seen.add(file);
    for (const match of readFileSync(file, 'utf8').matchAll(/(?:from|import\()\s*'(\.{1,2}\/[^']+)'/g)) {
      pending.push(resolve(dirname(file), match[1]!));
    }
  }
  return seen;
}

test('the image holds every source folder the CLI imports (a new top-level folder needs its COPY)', () => {
  const copied = readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8')
    .split('\n')
    .filter((l) => /^COPY\s/.test(l))
    .flatMap((l) => l.trim().split(/\s+/).slice(1, -1));
  const folders = new Set([...cliSourceFiles()].map((f) => relative(REPO_ROOT, f).split('/')[0]!));
  assert.ok(folders.has('domain') && folders.has('processors'), `the import walk found ${[...folders].join(', ')}`);
  // `demo` starts the fixture lookup servers from test/; it runs on a clone, never in the image.
  folders.delete('test');
  for (const folder of folders) assert.ok(copied.includes(folder), `the image lacks ${folder}/, which the CLI imports`);
});

test('the image holds everything the processes read at run time: rules and the default fee schedule', () => {
  const copied = readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8')
    .split('\n')
    .filter((l) => /^COPY\s/.test(l))
    .flatMap((l) => l.trim().split(/\s+/).slice(1, -1));
  const config = loadConfig({ PERMITFLOW_ENV_FILE: '/nonexistent' });
  const needed = [config.rules.dir, config.lookups.feeSchedulePath, join(REPO_ROOT, 'schemas'), join(REPO_ROOT, 'connectors/file-drop/mappings')];
  for (const path of needed) {
    const relativePath = relative(REPO_ROOT, path);
    assert.ok(copied.some((c) => relativePath === c || relativePath.startsWith(`${c}/`)), `the image lacks ${relativePath}`);
  }
});
