/**
 * `permitflow run <processor>`: runs one processor of the topology until SIGTERM/SIGINT, then
 * finishes the batch in hand, commits and leaves its group. `run all` runs every processor in
 * one process (the demo).
 */
import { Command } from 'commander';
import { createObjectStore } from '../../connectors/object-store.ts';
import { loadConfig } from '../../lib/config.ts';
import { createKafka } from '../../lib/kafka.ts';
import { createLogger } from '../../lib/logger.ts';
import { availableProcessors, PROCESSOR_FACTORIES } from '../../processors/index.ts';
import { runProcessor, type RunningProcessor } from '../../processors/runtime/runner.ts';
import { createRegistry, createSerde } from '../../schemas/serde.ts';
import { buildTopology, type ProcessorId } from '../../topology/topics.ts';

export function runCommand(): Command {
  return new Command('run')
    .description(`Run a processor until stopped: ${availableProcessors().join(', ')}, or all`)
    .argument('<processor>', 'processor name, or "all"')
    .action(async (name: string) => {
      const ids = name === 'all' ? availableProcessors() : [name as ProcessorId];
      const unknown = ids.filter((id) => !PROCESSOR_FACTORIES[id]);
      if (unknown.length > 0) throw new Error(`unknown processor ${unknown.join(', ')}: choose one of ${availableProcessors().join(', ')}, or all`);

      const config = loadConfig();
      const logger = createLogger({ level: config.logLevel, name: 'permitflow' });
      const topology = buildTopology(config.topology);
      const kafka = createKafka(config, logger);
      const serde = createSerde(createRegistry(config));
      const objectStore = createObjectStore(config);
      const running: RunningProcessor[] = ids.map((id) =>
        runProcessor(kafka, serde, PROCESSOR_FACTORIES[id]!({ config, topology, serde, objectStore }), {
          topology,
          logger,
          workerId: config.workerId,
          ...config.runtime,
        }),
      );

      const stop = () => void Promise.all(running.map((r) => r.stop())).finally(() => objectStore.close());
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
      await Promise.all(running.map((r) => r.started));
      logger.info({ processors: ids, workerId: config.workerId }, 'running');
      await Promise.all(running.map((r) => r.done));
    });
}
