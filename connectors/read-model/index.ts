/**
 * The PostgreSQL read model: versioned migrations, the sink that keeps it equal to the topics,
 * and the queries behind `permitflow trace` and the intake's status endpoint.
 */
import type { Kafka } from 'kafkajs';
import type { Config } from '../../lib/config.ts';
import type { Logger } from '../../lib/logger.ts';
import type { Serde } from '../../schemas/serde.ts';
import type { Topology } from '../../topology/topics.ts';
import { migrate } from './migrate.ts';
import { createReadModelPool } from './pool.ts';
import { runReadModelSink, type RunningSink } from './sink.ts';

export { migrate, readMigrations } from './migrate.ts';
export { createReadModelPool } from './pool.ts';
export { runReadModelSink, type RunningSink } from './sink.ts';
export { createReadModelStatusSource, type ReadModelStatusSource, type ReadModelSubmissionStatus } from './status-source.ts';
export { findSubmissions, readTimeline, type Timeline, type TimelineEvent } from './timeline.ts';

export interface ReadModelDeps {
  kafka: Kafka;
  serde: Serde;
  topology: Topology;
  logger: Logger;
}

/** `permitflow run read-model`: its own pool, migrations (unless READ_MODEL_MIGRATE=false), the sink. */
export function startReadModel(config: Config, deps: ReadModelDeps): RunningSink {
  const pool = createReadModelPool(config, { applicationName: `permitflow-read-model-${config.workerId}` });
  return runReadModelSink({
    ...deps,
    pool,
    ...config.runtime,
    workerId: config.workerId,
    async prepare() {
      if (!config.readModel.migrate) return;
      const applied = await migrate(pool, config.readModel.schema);
      if (applied.length > 0) deps.logger.info({ schema: config.readModel.schema, applied }, 'read-model migrations applied');
    },
    close: () => pool.end(),
  });
}
