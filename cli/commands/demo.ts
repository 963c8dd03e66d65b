/**
 * `permitflow demo`: the main job on the local stack, end to end as far as the pipeline goes
 * today: apply the topology, submit the sample applications (one large enough to be claim-
 * checked into the object store), read them back from the raw topic through the registry, and
 * check the Redis and PostgreSQL round trips the later stages depend on.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { Redis } from 'ioredis';
import pg from 'pg';
import { canonicalPayload, DEFAULT_INLINE_LIMIT, storePayload } from '../../connectors/claim-check.ts';
import { createObjectStore } from '../../connectors/object-store.ts';
import { createRawProducer } from '../../connectors/raw-topic.ts';
import { readTopic } from '../../connectors/topic-reader.ts';
import { loadConfig, REPO_ROOT } from '../../lib/config.ts';
import { createKafka } from '../../lib/kafka.ts';
import { createLogger } from '../../lib/logger.ts';
import { createRegistry, createSerde } from '../../schemas/serde.ts';
import type { PermitApplication, SubmissionEnvelope } from '../../schemas/types.ts';
import { applyTopology } from '../../topology/apply.ts';
import { buildTopology } from '../../topology/topics.ts';

export function demoCommand(): Command {
  return new Command('demo')
    .description('Run the sample flow on the running local stack (start it with `permitflow stack up`)')
    .option('--file <path>', 'JSON array of permit applications', join(REPO_ROOT, 'test/fixtures/applications.json'))
    .action(async (options: { file: string }) => {
      const config = loadConfig();
      const logger = createLogger({ level: 'warn', name: 'demo' });
      const topology = buildTopology(config.topology);
      const kafka = createKafka(config, logger);
      const serde = createSerde(createRegistry(config));
      const store = createObjectStore(config);

      const admin = kafka.admin();
      await admin.connect();
      const report = await applyTopology(topology, admin, serde).finally(() => admin.disconnect());
      console.log(`topology: ${report.created.length} topics created, ${report.schemas.length} schemas registered`);

      const applications = JSON.parse(readFileSync(options.file, 'utf8')) as PermitApplication[];
      // One application with a large scope narrative, to show the claim check.
      const large = { ...applications[0]!, sourceReference: 'PORTAL-2026-LARGE', description: 'Detailed scope narrative. '.repeat(3000) };
      const envelopes: SubmissionEnvelope[] = [];
      for (const application of [...applications, large]) {
        const payload = canonicalPayload(application);
        envelopes.push({
          submissionHash: payload.hash,
          source: 'demo',
          sourceClient: null,
          sourceReference: application.sourceReference ?? null,
          receivedAt: Date.now(),
          payload: await storePayload(store, payload, DEFAULT_INLINE_LIMIT),
          attachments: [],
          traceparent: null,
        });
      }
      const producer = await createRawProducer(kafka, serde, topology.topics.raw);
      await producer.send(envelopes);
      await producer.close();
      console.log(`submitted: ${envelopes.length} envelopes to ${topology.topics.raw.name}`);

      const wanted = new Set(envelopes.map((e) => e.submissionHash));
      const records = await readTopic<SubmissionEnvelope>(kafka, serde, topology.topics.raw);
      const found = records.filter((r) => wanted.has(r.value.submissionHash));
      for (const r of found.slice(-envelopes.length)) {
        const where = r.value.payload.objectKey ? `object ${r.value.payload.objectKey}` : 'inline';
        console.log(`  p${r.partition}@${r.offset}  ${r.value.submissionHash.slice(0, 16)}…  ${r.value.sourceReference ?? '-'}  ${r.value.payload.size} B ${where}`);
      }
      const claimChecked = envelopes.filter((e) => e.payload.objectKey !== null);
      for (const e of claimChecked) {
        if (!(await store.exists(e.payload.objectKey!))) throw new Error(`claim-checked payload ${e.payload.objectKey} is missing from the object store`);
      }
      store.close();

      const redis = new Redis(config.redis.url, { lazyConnect: true, maxRetriesPerRequest: 2 });
      await redis.connect();
      await redis.set('permitflow:demo', 'ok', 'EX', 60);
      const redisOk = (await redis.get('permitflow:demo')) === 'ok';
      redis.disconnect();

      const db = new pg.Client({ connectionString: config.database.url });
      await db.connect();
      const { rows } = await db.query<{ version: string }>('select version()');
      await db.end();

      const missing = [...wanted].filter((h) => !found.some((r) => r.value.submissionHash === h));
      console.log(`raw topic: ${found.length} matching records read back, ${missing.length} missing; ${claimChecked.length} payload(s) claim-checked in bucket ${config.s3.bucket}`);
      console.log(`redis: ${redisOk ? 'ok' : 'FAILED'}; postgres: ${rows[0]?.version.split(' on ')[0] ?? 'FAILED'}`);
      if (missing.length > 0 || !redisOk) throw new Error('demo failed: see above');
      console.log('demo: ok');
    });
}
