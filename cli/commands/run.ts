/**
 * `permitflow run <processor>`: runs one processor of the topology until SIGTERM/SIGINT, then
 * finishes the batch in hand, commits and leaves its group. `run all` runs every processor in
 * one process (the demo).
 */
import { Command } from 'commander';
import { loadConfig } from '../../lib/config.ts';
import { createLogger } from '../../lib/logger.ts';
import { serveMetrics } from '../../lib/observability/metrics.ts';
import { startConfiguredTracing } from '../../lib/observability/tracing.ts';
import { availableProcessors, startProcessors } from '../../processors/index.ts';
import type { ProcessorId } from '../../topology/topics.ts';

export function runCommand(): Command {
  return new Command('run')
    .description(`Run a processor until stopped: ${availableProcessors().join(', ')}, or all`)
    .argument('<processor>', 'processor name, or "all"')
    .action(async (name: string) => {
      const ids = name === 'all' ? availableProcessors() : [name as ProcessorId];
      const config = loadConfig();
      const logger = createLogger({ level: config.logLevel, name: 'permitflow' });
      const tracing = startConfiguredTracing(config.tracing, name === 'all' ? 'processors' : name);
      // Permits keep flowing without metrics (a taken port, say): the scrape's `up` alert tells.
      const metrics =
        config.metrics.port > 0
          ? await serveMetrics(config.metrics, logger).catch((err: unknown) => {
              logger.error({ err, port: config.metrics.port }, 'metrics endpoint not served (set METRICS_PORT per process); processing goes on without it');
              return undefined;
            })
          : undefined;
      const processors = await startProcessors(config, ids, logger);
      const stop = () => void processors.stop().finally(() => Promise.all([metrics?.close(), tracing.shutdown()]));
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
      await processors.started;
      logger.info({ processors: ids, workerId: config.workerId }, 'running');
      await Promise.all(processors.running.map((r) => r.done));
    });
}
