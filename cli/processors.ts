/**
 * The wiring of the processors: each is built from the connectors that implement its ports. `permitflow run`
 * starts them through here; tests build them the same way.
 */
import { objectStorePayloads, storePayload } from '../connectors/claim-check.ts';
import { createEnrichmentLookups } from '../connectors/lookups/index.ts';
import { createObjectStore } from '../connectors/object-store.ts';
import { createPdfExtractor } from '../connectors/pdf/extractor.ts';
import { loadFormMappings } from '../connectors/pdf/form-mapping.ts';
import type { ObjectStore, PayloadSource } from '../domain/ports.ts';
import { startArchiver } from '../connectors/audit/index.ts';
import { startReadModel, type ReadModelDeps, type RunningSink } from '../connectors/read-model/index.ts';
import { startNotifier } from '../connectors/webhooks/notifier.ts';
import type { Config } from '../lib/config.ts';
import { createKafka } from '../lib/kafka.ts';
import type { Logger } from '../lib/logger.ts';
import { createRegistry, createSerde, type Serde } from '../schemas/serde.ts';
import { watchConsumerLag } from '../lib/observability/metrics.ts';
import { buildTopology, PROCESSORS, type ProcessorId, type Topology } from '../topology/topics.ts';
import { createDecider } from '../processors/decider/index.ts';
import { createEnricher } from '../processors/enricher/index.ts';
import { createExtractor } from '../processors/extractor/index.ts';
import { runProcessor, type RunningProcessor } from '../processors/runtime/runner.ts';
import type { ProcessorDefinition } from '../processors/runtime/types.ts';
import { loadFeeQuoter } from '../processors/validator/fee-quoter.ts';
import { createValidator } from '../processors/validator/index.ts';
import { loadRuleSets } from '../processors/validator/rule-set.ts';
import { createWindower } from '../processors/windower/index.ts';

export interface ProcessorDeps {
  config: Config;
  topology: Topology;
  serde: Serde;
  objectStore: ObjectStore;
  /** Application payloads, inline or claim-checked: what the enricher, validator and decider read. */
  payloads: PayloadSource;
  logger: Logger;
}

type Factory = (deps: ProcessorDeps) => Promise<ProcessorDefinition<never>>;

export const PROCESSOR_FACTORIES: Partial<Record<ProcessorId, Factory>> = {
  extractor: ({ config, topology, objectStore, payloads }) =>
    Promise.resolve(
      createExtractor({
        topology,
        workerId: config.workerId,
        payloads,
        concurrency: config.extract.concurrency,
        // Form mappings are validated here, at start: a broken one stops the stage before its first PDF.
        reader: createPdfExtractor({ forms: loadFormMappings(config.extract.formsDir), ...config.extract }),
        applications: { store: (payload) => storePayload(objectStore, payload, config.intake.inlineLimitBytes) },
      }),
    ),
  windower: ({ config, topology, serde, objectStore }) =>
    Promise.resolve(createWindower({ ...config.windower, archive: objectStore, serde, topology, workerId: config.workerId })),
  enricher: async ({ config, topology, payloads, logger }) =>
    createEnricher({
      topology,
      lookups: await createEnrichmentLookups(config, { logger }),
      payloads,
      workerId: config.workerId,
      concurrency: config.enricher.concurrency,
    }),
  validator: async ({ config, topology, payloads }) =>
    createValidator({
      topology,
      workerId: config.workerId,
      ruleSets: loadRuleSets(config.rules.dir),
      fees: await loadFeeQuoter(config.lookups.feeSchedulePath),
      payloads,
    }),
  decider: ({ config, topology, payloads }) => Promise.resolve(createDecider({ topology, workerId: config.workerId, ruleSets: loadRuleSets(config.rules.dir), payloads })),
};

/** Stages that are sinks, not consume-transform-produce processors: they run beside the runtime. */
export const SINK_STARTERS: Partial<Record<ProcessorId, (config: Config, deps: ReadModelDeps) => RunningSink>> = {
  'read-model': startReadModel,
  notifier: startNotifier,
  archiver: startArchiver,
};

export const availableProcessors = (): ProcessorId[] => [...Object.keys(PROCESSOR_FACTORIES), ...Object.keys(SINK_STARTERS)] as ProcessorId[];

export interface StartedProcessors {
  running: Array<Pick<RunningProcessor, 'started' | 'done' | 'stop'>>;
  /** Resolves when all have started (joined their groups). */
  started: Promise<void>;
  /** Stops every processor gracefully and closes the shared clients. */
  stop(): Promise<void>;
}

/** Builds and starts processors in this process, sharing one Kafka client, serde and object store. */
export async function startProcessors(config: Config, ids: ProcessorId[], logger: Logger): Promise<StartedProcessors> {
  const topology = buildTopology(config.topology);
  const kafka = createKafka(config, logger);
  const serde = createSerde(createRegistry(config));
  const objectStore = createObjectStore(config);
  const payloads = objectStorePayloads(objectStore);
  const definitions = await Promise.all(
    ids.filter((id) => !SINK_STARTERS[id]).map((id) => {
      const factory = PROCESSOR_FACTORIES[id];
      if (!factory) throw new Error(`unknown processor ${id}: choose one of ${availableProcessors().join(', ')}`);
      return factory({ config, topology, serde, objectStore, payloads, logger });
    }),
  );
  const running = [
    ...definitions.map((definition) => runProcessor(kafka, serde, definition, { topology, logger, workerId: config.workerId, ...config.runtime })),
    ...ids.flatMap((id) => SINK_STARTERS[id]?.(config, { kafka, serde, topology, logger }) ?? []),
  ];
  // Each group's lag, read at scrape time, is exported by the process that runs it.
  const lagAdmin = kafka.admin();
  const unwatch = ids.map((id) => watchConsumerLag(lagAdmin, { group: topology.group(id), topics: PROCESSORS[id].inputs.map((t) => topology.topics[t].name) }));
  void lagAdmin.connect().catch((err: unknown) => logger.warn({ err }, 'lag admin could not connect: lag metrics missing until it does'));
  return {
    running,
    started: Promise.all(running.map((r) => r.started)).then(() => undefined),
    async stop() {
      for (const stopWatching of unwatch) stopWatching();
      await Promise.all(running.map((r) => r.stop()));
      await lagAdmin.disconnect().catch(() => undefined);
      objectStore.close();
    },
  };
}
