/**
 * The wiring of the processors: each is built from the connectors that implement its ports. `permitflow run`
 * starts them through here; tests build them the same way.
 */
import { objectStorePayloads } from '../connectors/claim-check.ts';
import { createObjectStore } from '../connectors/object-store.ts';
import type { ObjectStore, PayloadSource } from '../domain/ports.ts';
import type { ReadModelDeps, RunningSink } from '../connectors/read-model/index.ts';
import type { Config } from '../lib/config.ts';
import { createKafka } from '../lib/kafka.ts';
import type { Logger } from '../lib/logger.ts';
import { createRegistry, createSerde, type Serde } from '../schemas/serde.ts';
import { watchConsumerLag } from '../lib/observability/metrics.ts';
import { buildTopology, PROCESSORS, type ProcessorId, type Topology } from '../topology/topics.ts';
import { runProcessor, type RunningProcessor } from '../processors/runtime/runner.ts';
import type { ProcessorDefinition } from '../processors/runtime/types.ts';

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

// Each stage imports its own modules when it is built, not at start: a process running one stage
// does not load (and hold in memory) the PDF reader, the HTTP lookups or PostgreSQL of the others.
export const PROCESSOR_FACTORIES: Partial<Record<ProcessorId, Factory>> = {
  extractor: async ({ config, topology, objectStore, payloads }) => {
    const [{ createExtractor }, { createPdfExtractor }, { loadFormMappings }, { storePayload }] = await Promise.all([
      import('../processors/extractor/index.ts'),
      import('../connectors/pdf/extractor.ts'),
      import('../connectors/pdf/form-mapping.ts'),
      import('../connectors/claim-check.ts'),
    ]);
    return createExtractor({
      topology,
      workerId: config.workerId,
      payloads,
      concurrency: config.extract.concurrency,
      // Form mappings are validated here, at start: a broken one stops the stage before its first PDF.
      reader: createPdfExtractor({ forms: loadFormMappings(config.extract.formsDir), ...config.extract }),
      applications: { store: (payload) => storePayload(objectStore, payload, config.intake.inlineLimitBytes) },
    });
  },
  windower: async ({ config, topology, serde, objectStore }) => {
    const { createWindower } = await import('../processors/windower/index.ts');
    return createWindower({ ...config.windower, archive: objectStore, serde, topology, workerId: config.workerId });
  },
  enricher: async ({ config, topology, payloads, logger }) => {
    const [{ createEnricher }, { createEnrichmentLookups }] = await Promise.all([import('../processors/enricher/index.ts'), import('../connectors/lookups/index.ts')]);
    return createEnricher({
      topology,
      lookups: await createEnrichmentLookups(config, { logger }),
      payloads,
      workerId: config.workerId,
      concurrency: config.enricher.concurrency,
    });
  },
  validator: async ({ config, topology, payloads }) => {
    const [{ createValidator }, { loadRuleSets }, { loadFeeQuoter }] = await Promise.all([
      import('../processors/validator/index.ts'),
      import('../processors/validator/rule-set.ts'),
      import('../processors/validator/fee-quoter.ts'),
    ]);
    return createValidator({
      topology,
      workerId: config.workerId,
      ruleSets: loadRuleSets(config.rules.dir),
      fees: await loadFeeQuoter(config.lookups.feeSchedulePath),
      payloads,
    });
  },
  decider: async ({ config, topology, payloads }) => {
    const [{ createDecider }, { loadRuleSets }] = await Promise.all([import('../processors/decider/index.ts'), import('../processors/validator/rule-set.ts')]);
    return createDecider({ topology, workerId: config.workerId, ruleSets: loadRuleSets(config.rules.dir), payloads });
  },
};

type SinkStarter = (config: Config, deps: ReadModelDeps) => RunningSink;

/** Stages that are sinks, not consume-transform-produce processors: they run beside the runtime. */
export const SINK_STARTERS: Partial<Record<ProcessorId, () => Promise<SinkStarter>>> = {
  'read-model': async () => (await import('../connectors/read-model/index.ts')).startReadModel,
  notifier: async () => (await import('../connectors/webhooks/notifier.ts')).startNotifier,
  archiver: async () => (await import('../connectors/audit/index.ts')).startArchiver,
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
  const sinkStarters = await Promise.all(ids.flatMap((id) => SINK_STARTERS[id]?.() ?? []));
  const running = [
    ...definitions.map((definition) => runProcessor(kafka, serde, definition, { topology, logger, workerId: config.workerId, ...config.runtime })),
    ...sinkStarters.map((start) => start(config, { kafka, serde, topology, logger })),
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
