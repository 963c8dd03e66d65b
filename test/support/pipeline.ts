/** Helpers for tests that run processors against the real stack. */
import type { ChildProcess } from 'node:child_process';
import type { TestContext } from 'node:test';
import { spawnCli } from './cli.ts';
import { canonicalPayload } from '../../domain/hashing.ts';
import { createRawProducer } from '../../connectors/raw-topic.ts';
import { readTopic, type ReadRecord } from '../../connectors/topic-reader.ts';
import type { Config } from '../../lib/config.ts';
import { createKafka } from '../../lib/kafka.ts';
import { createLogger } from '../../lib/logger.ts';
import { createRegistry, createSerde } from '../../schemas/serde.ts';
import type { SubmissionEnvelope } from '../../schemas/types.ts';
import { startProcessors } from '../../cli/processors.ts';
import type { ProcessorId, TopicId, Topology } from '../../topology/topics.ts';

export function syntheticEnvelope(n: number, size = 200): SubmissionEnvelope {
  const payload = canonicalPayload({ jurisdiction: 'us-or-cedar-county', sequence: n, description: 'x'.repeat(size) });
  return {
    submissionHash: payload.hash,
    source: 'test',
    sourceClient: null,
    sourceReference: `T-${n}`,
    receivedAt: Date.now(),
    payload: { contentType: 'application/json', size: payload.bytes.length, sha256: payload.hash, inline: payload.bytes, objectKey: null },
    attachments: [],
    traceparent: null,
  };
}

/** Produces `distinct` envelopes plus `duplicates` repeats of earlier ones, interleaved. */
export async function produceSubmissions(config: Config, topology: Topology, distinct: number, duplicates = 0, size = 200): Promise<string[]> {
  const kafka = createKafka(config, createLogger({ level: 'warn' }));
  const producer = await createRawProducer(kafka, createSerde(createRegistry(config)), topology.topics.raw);
  const hashes: string[] = [];
  try {
    const all: SubmissionEnvelope[] = [];
    for (let n = 0; n < distinct; n++) {
      const e = syntheticEnvelope(n, size);
      hashes.push(e.submissionHash);
      all.push(e);
      // Every tenth distinct submission is followed later by a resubmission of an earlier one.
      if (duplicates > 0 && n % Math.ceil(distinct / duplicates) === 0) all.push(syntheticEnvelope(Math.floor(n / 2), size));
    }
    for (let i = 0; i < all.length; i += 500) await producer.send(all.slice(i, i + 500));
    return hashes;
  } finally {
    await producer.close();
  }
}

export async function readAll<T>(config: Config, topology: Topology, id: TopicId): Promise<ReadRecord<T>[]> {
  const kafka = createKafka(config, createLogger({ level: 'warn' }));
  return readTopic<T>(kafka, createSerde(createRegistry(config)), topology.topics[id], { timeoutMs: 120_000 });
}

/** `permitflow run <processor>` as a child process with this test's configuration. */
export function spawnProcessor(t: TestContext, processor: string, env: Record<string, string>, options: { onOutput?: (text: string) => void } = {}): ChildProcess {
  return spawnCli(t, ['run', processor], env, { ...options, keepChars: 64_000, label: processor }).child;
}

/**
 * Polls until `check` returns true, or fails after the deadline with `what`. A check that
 * throws counts as "not yet" (brokers answer with transient errors while topics settle).
 */
export async function waitFor(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 120_000, intervalMs = 250): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
    } catch (err) {
      lastError = err;
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`, { cause: lastError });
}

/** Runs stages in this process until the test ends. */
export async function startStages(t: TestContext, config: Config, ids: ProcessorId[]): Promise<void> {
  const processors = await startProcessors(config, ids, createLogger({ level: 'warn' }));
  t.after(() => processors.stop());
  await processors.started;
}
