/**
 * `permitflow run <processor>`: runs one processor of the topology until SIGTERM/SIGINT, then
 * finishes the batch in hand, commits and leaves its group. `run all` runs every processor in
 * one process (the demo).
 */
import { Command } from 'commander';
import type { ProcessorId } from '../../topology/topics.ts';

/** The stages `run` starts; cli/processors.ts (loaded only to run them) has the same list, which a unit test checks. */
export const RUNNABLE: readonly ProcessorId[] = ['extractor', 'windower', 'enricher', 'validator', 'decider', 'read-model', 'notifier', 'archiver'];

export function runCommand(): Command {
  return new Command('run')
    .description(`Run a processor until stopped: ${RUNNABLE.join(', ')}, or all`)
    .argument('<processor>', 'processor name, or "all"')
    .action(async (name: string) => {
      // Loaded here, not above: `--help` must not pay for Kafka, the AWS SDK and the rest.
      const [{ loadConfig }, { createLogger }, { serveMetrics }, { startConfiguredTracing }, { availableProcessors, startProcessors }] = await Promise.all([
        import('../../lib/config.ts'),
        import('../../lib/logger.ts'),
        import('../../lib/observability/metrics.ts'),
        import('../../lib/observability/tracing.ts'),
        import('../processors.ts'),
      ]);
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
      let stopping: Promise<unknown> | undefined;
      const stop = () => {
        metrics?.setReady(false);
        stopping ??= processors.stop().finally(() => Promise.all([metrics?.close(), tracing.shutdown()]));
        return stopping;
      };
      process.once('SIGTERM', () => void stop());
      process.once('SIGINT', () => void stop());
      try {
        await processors.started;
        metrics?.setReady(true);
        logger.info({ processors: ids, workerId: config.workerId }, 'running');
        await Promise.all(processors.running.map((r) => r.done));
      } catch (err) {
        // One stage stopped on a fatal error: stop the others and close the metrics endpoint, so
        // the process exits non-zero instead of lingering half-alive (an orchestrator restarts it).
        await stop();
        throw err;
      }
    });
}
