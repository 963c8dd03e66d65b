import { Command } from 'commander';
import { loadConfig } from '../../lib/config.ts';
import { createKafka } from '../../lib/kafka.ts';
import { createLogger } from '../../lib/logger.ts';
import { createRegistry, createSerde } from '../../schemas/serde.ts';
import { applyTopology } from '../../topology/apply.ts';
import { buildTopology, describeTopology } from '../../topology/topics.ts';

export function topologyCommand(): Command {
  const command = new Command('topology').description('Describe or apply the topics, schemas and processor graph');

  command
    .command('describe')
    .description('Print every topic (name, key, schema, configs) and the processor graph')
    .action(() => {
      const config = loadConfig();
      console.log(describeTopology(buildTopology(config.topology)));
    });

  command
    .command('apply')
    .description('Create or update every topic and register every schema (BACKWARD); safe to re-run')
    .action(async () => {
      const config = loadConfig();
      const logger = createLogger({ level: config.logLevel, name: 'topology' });
      const admin = createKafka(config, logger).admin();
      await admin.connect();
      try {
        const report = await applyTopology(buildTopology(config.topology), admin, createSerde(createRegistry(config)));
        console.log(`topics: ${report.created.length} created, ${report.updated.length} updated, ${report.unchanged.length} unchanged`);
        for (const name of report.created) console.log(`  + ${name}`);
        for (const name of report.updated) console.log(`  ~ ${name}`);
        console.log(`schemas: ${report.schemas.length} subjects registered (BACKWARD)`);
      } finally {
        await admin.disconnect();
      }
    });

  return command;
}
