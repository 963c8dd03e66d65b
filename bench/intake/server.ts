/**
 * The intake as the benchmark runs it: the real server on the real stack, plus a bare handler
 * (`POST /bench/noop`) on the same Fastify instance, with the same parsers, hooks and limits but
 * no work, as the baseline. Prints `{"url": ...}` once listening; stops gracefully on SIGTERM.
 */
import { startIntake } from '../../connectors/intake/server.ts';
import { loadConfig } from '../../lib/config.ts';
import { createLogger } from '../../lib/logger.ts';

const config = loadConfig();
const logger = createLogger({ level: config.logLevel, name: 'bench-intake' });
const intake = await startIntake(config, {
  logger,
  port: 0,
  extend: (app) => {
    app.post('/bench/noop', (_request, reply) => reply.code(202).send({ submissionId: '0'.repeat(64), receivedAt: new Date().toISOString(), status: 'received' }));
  },
});
process.stdout.write(`${JSON.stringify({ url: intake.url })}\n`);
process.once('SIGTERM', () => {
  intake.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
});
