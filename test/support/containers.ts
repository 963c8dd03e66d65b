/**
 * The testcontainers path, for a machine with Docker and no local stack: the same services
 * as docker-compose.yml, started once per test process. Not used where the stack is running.
 */
import { GenericContainer, Wait } from 'testcontainers';

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
  const { S3Client, CreateBucketCommand } = await import('@aws-sdk/client-s3');
  await new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: access, secretAccessKey: secret } }).send(
    new CreateBucketCommand({ Bucket: 'permitflow' }),
  );
  return {
    KAFKA_BROKERS: 'localhost:9092',
    SCHEMA_REGISTRY_URL: `http://${redpanda.getHost()}:${redpanda.getMappedPort(8081)}`,
    S3_ENDPOINT: endpoint,
    S3_ACCESS_KEY_ID: access,
    S3_SECRET_ACCESS_KEY: secret,
    REDIS_URL: `redis://${redis.getHost()}:${redis.getMappedPort(6379)}`,
    DATABASE_URL: `postgres://permitflow:permitflow@${postgres.getHost()}:${postgres.getMappedPort(5432)}/permitflow`,
  };
}
