/**
 * The processors of the topology and how each is built from its dependencies. `permitflow run`
 * starts them through here; tests build them the same way.
 */
import type { ObjectStore } from '../connectors/object-store.ts';
import type { Config } from '../lib/config.ts';
import type { Serde } from '../schemas/serde.ts';
import type { ProcessorId, Topology } from '../topology/topics.ts';
import type { ProcessorDefinition } from './runtime/types.ts';
import { createWindower } from './windower/index.ts';

export interface ProcessorDeps {
  config: Config;
  topology: Topology;
  serde: Serde;
  objectStore: ObjectStore;
}

type Factory = (deps: ProcessorDeps) => ProcessorDefinition<never>;

export const PROCESSOR_FACTORIES: Partial<Record<ProcessorId, Factory>> = {
  windower: ({ config, topology, serde, objectStore }) =>
    createWindower({ ...config.windower, archive: objectStore, serde, topology, workerId: config.workerId }),
};

export const availableProcessors = (): ProcessorId[] => Object.keys(PROCESSOR_FACTORIES) as ProcessorId[];
