/**
 * The runtime's side of the processor contract: a processor writes only what its declaration
 * (`processors/<name>/topology.ts`) names. An undeclared output or store is a bug in the
 * processor, not in the record: it stops the stage (fatal) instead of dead-lettering records or
 * writing a topic that `topology describe`, lag and status do not know about.
 */
import type { ProcessorDeclaration } from '../../topology/contract.ts';
import { PROCESSORS, type ProcessorId, type TopicSpec, type Topology } from '../../topology/topics.ts';
import type { Output } from './types.ts';

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
  return (output) => {
    if (!topics.has(output.topic.name)) {
      throw new UndeclaredOutputError(`processor ${processor} wrote topic ${output.topic.name}, which is not one of its declared outputs (${[...topics].join(', ') || 'none'}): declare it in processors/${processor}/topology.ts`);
    }
  };
}

