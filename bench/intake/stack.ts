/**
 * The benchmark's footprint on the shared stack: a topic namespace of its own, created before
 * and removed after, together with the payloads it claim-checked into MinIO.
 */
import { DeleteObjectsCommand, S3Client } from '@aws-sdk/client-s3';
import { readTopic } from '../../connectors/topic-reader.ts';
import { loadConfig, type Config } from '../../lib/config.ts';
import { createKafka } from '../../lib/kafka.ts';
import { createLogger } from '../../lib/logger.ts';
import { createRegistry, createSerde } from '../../schemas/serde.ts';
import type { SubmissionEnvelope } from '../../schemas/types.ts';
import { applyTopology } from '../../topology/apply.ts';
import { buildTopology } from '../../topology/topics.ts';

const logger = createLogger({ level: 'warn', name: 'bench-intake' });

const configFor = (namespace: string): Config => loadConfig({ ...process.env, PERMITFLOW_TOPIC_NAMESPACE: namespace, PERMITFLOW_PARTITIONS: '6' });

export async function prepareNamespace(namespace: string): Promise<void> {
  const config = configFor(namespace);
  const admin = createKafka(config, logger).admin();
  await admin.connect();
  try {
    await applyTopology(buildTopology(config.topology), admin, createSerde(createRegistry(config)));
  } finally {
    await admin.disconnect();
  }
}

export async function cleanupNamespace(namespace: string): Promise<void> {
  const config = configFor(namespace);
  const topology = buildTopology(config.topology);
  const kafka = createKafka(config, logger);
  const envelopes = await readTopic<SubmissionEnvelope>(kafka, createSerde(createRegistry(config)), topology.topics.raw, { timeoutMs: 300_000 });
  const keys = envelopes.flatMap((r) => [r.value.payload.objectKey, ...r.value.attachments.map((a) => a.objectKey)]).filter((k): k is string => k !== null);
  if (keys.length > 0) {
    const s3 = new S3Client({
      region: config.s3.region,
      forcePathStyle: config.s3.forcePathStyle,
      ...(config.s3.endpoint && { endpoint: config.s3.endpoint }),
      credentials: { accessKeyId: config.s3.accessKeyId!, secretAccessKey: config.s3.secretAccessKey! },
    });
    for (let i = 0; i < keys.length; i += 1000) {
      await s3.send(new DeleteObjectsCommand({ Bucket: config.s3.bucket, Delete: { Objects: keys.slice(i, i + 1000).map((Key) => ({ Key })), Quiet: true } }));
    }
    s3.destroy();
  }
  const admin = kafka.admin();
  await admin.connect();
  try {
    const names = [...Object.values(topology.topics).map((t) => t.name), ...topology.changelogs.map((c) => c.name)];
    await admin.deleteTopics({ topics: names });
  } finally {
    await admin.disconnect();
  }
}
