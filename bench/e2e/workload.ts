/**
 * The benchmark's workload: N distinct Cedar County applications, variants of the fixture
 * applications that carry an APN, built exactly as the Celery peer's loader builds them
 * (`sourceReference` E2E-%08d, description suffix " (variant i)"), so both systems do the same
 * lookups, rules and fees for the same submissions.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { canonicalPayload } from '../../domain/hashing.ts';
import { createRawProducer } from '../../connectors/raw-topic.ts';
import { REPO_ROOT, type Config } from '../../lib/config.ts';
import { createKafka } from '../../lib/kafka.ts';
import { createLogger } from '../../lib/logger.ts';
import { createRegistry, createSerde } from '../../schemas/serde.ts';
import type { PermitApplication, SubmissionEnvelope } from '../../schemas/types.ts';
import type { Topology } from '../../topology/topics.ts';

/** The fixture applications with a parcel number: the ones the county's parcel API knows. */
export function fixtureApplications(): PermitApplication[] {
  const all = JSON.parse(readFileSync(join(REPO_ROOT, 'test/fixtures/applications.json'), 'utf8')) as PermitApplication[];
  return all.filter((a) => a.site?.parcelNumber);
}

export function variant(apps: readonly PermitApplication[], i: number, prefix = 'E2E'): PermitApplication {
  const base = apps[i % apps.length]!;
  return { ...structuredClone(base), sourceReference: `${prefix}-${String(i).padStart(8, '0')}`, description: `${base.description} (variant ${i})` };
}

function envelopeOf(application: PermitApplication): SubmissionEnvelope {
  const payload = canonicalPayload(application);
  return {
    submissionHash: payload.hash,
    source: 'bench',
    sourceClient: null,
    sourceReference: application.sourceReference ?? null,
    receivedAt: Date.now(),
    payload: { contentType: 'application/json', size: payload.bytes.length, sha256: payload.hash, inline: payload.bytes, objectKey: null },
    attachments: [],
    traceparent: null,
  };
}

/** Produces `count` distinct applications onto the raw topic (idempotent, acks=all), 500 per request. */
export async function produceApplications(config: Config, topology: Topology, count: number): Promise<void> {
  const apps = fixtureApplications();
  const kafka = createKafka(config, createLogger({ level: 'warn' }));
  const producer = await createRawProducer(kafka, createSerde(createRegistry(config)), topology.topics.raw);
  try {
    for (let from = 0; from < count; from += 500) {
      const slice: SubmissionEnvelope[] = [];
      for (let i = from; i < Math.min(count, from + 500); i++) slice.push(envelopeOf(variant(apps, i)));
      await producer.send(slice);
    }
  } finally {
    await producer.close();
  }
}
