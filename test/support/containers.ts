/**
 * The testcontainers path, for a machine with Docker and no local stack: the same services
 * as docker-compose.yml, started once per test process. Not used where the stack is running.
 * MinIO gets what `stack up` gives it: the application's bucket, the audit bucket with Object
 * Lock, the application's and the archiver's users with the stack's policies, and a key the
 * archiver signs roots with.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { GenericContainer, Wait } from 'testcontainers';
import { loadConfig } from '../../lib/config.ts';
import { provisionMinio } from '../../ops/minio/service.ts';
import { AUDIT_ARCHIVER_ACCESS_KEY_ID } from '../../ops/stack/secrets.ts';


export async function startContainers(): Promise<Record<string, string>> {
  const access = 'permitflow-test';
  const secret = 'permitflow-test-secret';
  const [redpanda, minio, redis, postgres] = await Promise.all([
    new GenericContainer('redpandadata/redpanda:v24.2.7')
      .withCommand(['redpanda', 'start', '--mode', 'dev-container', '--smp', '1', '--kafka-addr', '0.0.0.0:9092', '--advertise-kafka-addr', 'localhost:9092', '--schema-registry-addr', '0.0.0.0:8081'])
      .withExposedPorts({ container: 9092, host: 9092 }, 8081)
      .withWaitStrategy(Wait.forLogMessage(/Successfully started Redpanda/))
      .start(),
    new GenericContainer('minio/minio:RELEASE.2025-04-22T22-12-26Z')
      .withCommand(['server', '/data'])
      .withEnvironment({ MINIO_ROOT_USER: access, MINIO_ROOT_PASSWORD: secret })
      .withExposedPorts(9000)
      .withWaitStrategy(Wait.forHttp('/minio/health/ready', 9000))
      .start(),
    new GenericContainer('redis:7-alpine').withExposedPorts(6379).start(),
    new GenericContainer('postgres:16-alpine')
      .withEnvironment({ POSTGRES_USER: 'permitflow', POSTGRES_PASSWORD: 'permitflow', POSTGRES_DB: 'permitflow' })
      .withExposedPorts(5432)
      .withWaitStrategy(Wait.forLogMessage(/ready to accept connections/, 2))
      .start(),
  ]);
  const endpoint = `http://${minio.getHost()}:${minio.getMappedPort(9000)}`;
  const region = 'us-east-1';
  const app = { accessKeyId: 'permitflow-app', secretAccessKey: randomBytes(24).toString('base64url') };
  const archiver = { accessKeyId: AUDIT_ARCHIVER_ACCESS_KEY_ID, secretAccessKey: randomBytes(24).toString('base64url') };
  // The configuration's defaults (buckets, Object Lock mode and retention), as `stack up` uses them.
  const { s3, audit } = loadConfig({});
  await provisionMinio({ endpoint, region, root: { accessKeyId: access, secretAccessKey: secret }, app, archiver, bucket: s3.bucket, audit });
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    KAFKA_BROKERS: 'localhost:9092',
    SCHEMA_REGISTRY_URL: `http://${redpanda.getHost()}:${redpanda.getMappedPort(8081)}`,
    S3_ENDPOINT: endpoint,
    S3_BUCKET: s3.bucket,
    S3_AUDIT_BUCKET: audit.bucket,
    S3_ACCESS_KEY_ID: app.accessKeyId,
    S3_SECRET_ACCESS_KEY: app.secretAccessKey,
    AUDIT_S3_ACCESS_KEY_ID: archiver.accessKeyId,
    AUDIT_S3_SECRET_ACCESS_KEY: archiver.secretAccessKey,
    AUDIT_SIGNING_KEY: privateKey.export({ format: 'der', type: 'pkcs8' }).toString('base64'),
    AUDIT_PUBLIC_KEY: publicKey.export({ format: 'der', type: 'spki' }).toString('base64'),
    REDIS_URL: `redis://${redis.getHost()}:${redis.getMappedPort(6379)}`,
    DATABASE_URL: `postgres://permitflow:permitflow@${postgres.getHost()}:${postgres.getMappedPort(5432)}/permitflow`,
  };
}
