import { Command } from 'commander';

export function topologyCommand(): Command {
  const command = new Command('topology').description('Describe or apply the topics, schemas and processor graph');

  command
    .command('describe')
    .description('Print every topic (name, key, schema, configs) and the processor graph')
    .action(async () => {
      const [{ loadConfig }, { buildTopology, describeTopology }] = await Promise.all([import('../../lib/config.ts'), import('../../topology/topics.ts')]);
      const config = loadConfig();
      console.log(describeTopology(buildTopology(config.topology)));
    });

  command
    .command('apply')
    .description('Create or update every topic and register every schema (BACKWARD); safe to re-run')
    .action(async () => {
      // Loaded here, not above, like every command's modules: `--help` stays fast.
      const [{ loadConfig }, { createKafka }, { createLogger }, { createRegistry, createSerde }, { applyTopology }, { buildTopology }] = await Promise.all([
        import('../../lib/config.ts'),
        import('../../lib/kafka.ts'),
        import('../../lib/logger.ts'),
        import('../../schemas/serde.ts'),
        import('../../topology/apply.ts'),
        import('../../topology/topics.ts'),
      ]);
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
