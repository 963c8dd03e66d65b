/**
 * The runtime's side of the processor contract: a processor writes only what its declaration
 * (`processors/<name>/topology.ts`) names. An undeclared output or store is a bug in the
 * processor, not in the record: it stops the stage (fatal) instead of dead-lettering records or
 * writing a topic that `topology describe`, lag and status do not know about.
 */
import type { Kafka } from 'kafkajs';
import { batchRetryDelay, retryPause } from '../../lib/backoff.ts';
import { isInfrastructureError, PermitflowError } from '../../lib/errors.ts';
import type { Logger } from '../../lib/logger.ts';
import type { Serde } from '../../schemas/serde.ts';
import type { ProcessorDeclaration } from '../../topology/contract.ts';
import { PROCESSORS, type ProcessorId, type TopicSpec, type Topology } from '../../topology/topics.ts';
import { isChangelogOutput, isStoreOutput, type Output } from './types.ts';

/** A processor broke its declaration. A TypeError, so classify() makes it fatal: retrying a bug hides it. */
export class UndeclaredOutputError extends TypeError {
  override readonly name = 'UndeclaredOutputError';
}

/** The catalogued topics of a declaration's inputs, in its order: what a processor definition subscribes to. */
export function declaredInputs(declaration: Pick<ProcessorDeclaration, 'inputs'>, topology: Topology): TopicSpec[] {
  return declaration.inputs.map((id) => topology.topics[id]);
}

/** The changelog of one of a processor's declared stores; any other store name is refused. */
export function declaredStore(processor: ProcessorId, topology: Topology, store: string): string {
  const stores: readonly string[] = PROCESSORS[processor].stores;
  if (!stores.includes(store)) {
    throw new UndeclaredOutputError(`processor ${processor} asked for store ${store}, which is not one of its declared stores (${stores.join(', ') || 'none'}): declare it in processors/${processor}/topology.ts`);
  }
  return topology.changelog(processor, store);
}

/** A check of every output a processor's handler or timer returns against its declaration. */
export function outputGuard(processor: ProcessorId, topology: Topology): (output: Output) => void {
  const declaration: ProcessorDeclaration = PROCESSORS[processor];
  const topics = new Set(declaration.outputs.map((id) => topology.topics[id].name));
  const changelogs = new Set(declaration.stores.map((store) => topology.changelog(processor, store)));
  return (output) => {
    if (isStoreOutput(output)) {
      declaredStore(processor, topology, output.store);
    } else if (isChangelogOutput(output)) {
      if (!changelogs.has(output.changelog)) {
        throw new UndeclaredOutputError(`processor ${processor} wrote changelog ${output.changelog}, which is not one of its declared stores (${declaration.stores.join(', ') || 'none'}): declare the store in processors/${processor}/topology.ts`);
      }
    } else if (!topics.has(output.topic.name)) {
      throw new UndeclaredOutputError(`processor ${processor} wrote topic ${output.topic.name}, which is not one of its declared outputs (${[...topics].join(', ') || 'none'}): declare it in processors/${processor}/topology.ts`);
    }
  };
}

/**
 * What a processor's declaration needs from the deployment, checked before it joins its group:
 * every topic it reads or writes and every store's changelog exists, and every topic it writes
 * has its schema registered. A missing one stops the stage with a message naming it (fatal, see
 * isDeploymentError) instead of dead-lettering every record; an outage of the broker or the
 * registry is waited out with backoff.
 */
export async function assertDeployed(kafka: Kafka, serde: Serde, processor: ProcessorId, topology: Topology, options: { logger: Logger; signal: AbortSignal }): Promise<void> {
  const declaration: ProcessorDeclaration = PROCESSORS[processor];
  const topics = [...new Set([...declaration.inputs, ...declaration.outputs])].map((id) => topology.topics[id]);
  const names = [...topics.map((t) => t.name), ...declaration.stores.map((store) => topology.changelog(processor, store))];
  for (let attempt = 1; ; attempt++) {
    try {
      await checkOnce(kafka, serde, processor, names, declaration.outputs.map((id) => topology.topics[id]));
      return;
    } catch (err) {
      if (!isInfrastructureError(err) || options.signal.aborted) throw err;
      options.logger.warn({ err, attempt }, 'cannot check the deployment yet (broker or registry unavailable): retrying');
      await retryPause(batchRetryDelay(attempt, 30_000), options.signal);
    }
  }
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
