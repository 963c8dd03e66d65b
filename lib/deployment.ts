/**
 * What a stage's declaration (`processors/<name>/topology.ts`) needs from the deployment, checked
 * before it joins its group: every topic it reads or writes and every store's changelog exists,
 * and every topic it writes has its schema registered. A missing one stops the stage with a
 * message naming it (fatal, see isDeploymentError) instead of dead-lettering every record or
 * crashing on the consumer's first metadata request; an outage of the broker or the registry is
 * waited out with backoff. In lib/, so the runtime and the sinks (connectors) share it.
 */
import type { Kafka } from 'kafkajs';
import type { Serde } from '../schemas/serde.ts';
import type { ProcessorDeclaration } from '../topology/contract.ts';
import { PROCESSORS, type ProcessorId, type TopicSpec, type Topology } from '../topology/topics.ts';
import { withRetries } from './backoff.ts';
import { isInfrastructureError, PermitflowError } from './errors.ts';
import type { Logger } from './logger.ts';

export async function assertDeployed(kafka: Kafka, serde: Serde, processor: ProcessorId, topology: Topology, options: { logger: Logger; signal: AbortSignal }): Promise<void> {
  const declaration: ProcessorDeclaration = PROCESSORS[processor];
  const topics = [...new Set([...declaration.inputs, ...declaration.outputs])].map((id) => topology.topics[id]);
  const names = [...topics.map((t) => t.name), ...declaration.stores.map((store) => topology.changelog(processor, store))];
  // Until it is known: an outage of the broker or the registry is waited out, a gap is thrown.
  await withRetries(() => checkOnce(kafka, serde, processor, names, declaration.outputs.map((id) => topology.topics[id])), {
    retries: Number.POSITIVE_INFINITY,
    retriable: isInfrastructureError,
    signal: options.signal,
    onRetry: (err, attempt) => options.logger.warn({ err, attempt }, 'cannot check the deployment yet (broker or registry unavailable): retrying'),
  });
}

async function checkOnce(kafka: Kafka, serde: Serde, processor: ProcessorId, names: string[], outputs: TopicSpec[]): Promise<void> {
  const admin = kafka.admin();
  try {
    await admin.connect();
    const existing = new Set(await admin.listTopics());
    const missing = names.filter((name) => !existing.has(name));
    if (missing.length > 0) {
      throw PermitflowError.permanent('PF_TOPIC_MISSING', `processor ${processor} cannot start: topic${missing.length > 1 ? 's' : ''} ${missing.join(', ')} missing: run \`permitflow topology apply\``, { context: { missing } });
    }
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
  // The exact schema this code writes, not merely some version of the subject: a registry
  // that still holds only an older version would otherwise fail every encode at run time.
  const unregistered: string[] = [];
  for (const topic of outputs) {
    try {
      await serde.schemaId(topic);
    } catch (err) {
      if (err instanceof PermitflowError && err.code === 'PF_SCHEMA_NOT_REGISTERED') unregistered.push(`${topic.subject} (${topic.schema})`);
      else throw err;
    }
  }
  if (unregistered.length > 0) {
    throw PermitflowError.permanent('PF_SCHEMA_NOT_REGISTERED', `processor ${processor} cannot start: the current schema is not registered under ${unregistered.join(', ')}: run \`permitflow topology apply\``, { context: { unregistered } });
  }
}
