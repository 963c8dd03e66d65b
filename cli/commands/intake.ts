/**
 * `permitflow intake`: runs the HTTP intake gateway until SIGTERM or SIGINT, then shuts down
 * gracefully. `permitflow intake keys create|list|revoke` manages the clients' API keys (the
 * file holds only digests; a new key is printed once).
 */
import { Command, InvalidArgumentError } from 'commander';
import { createApiKey, readKeyFile, revokeApiKey, SCOPES, type Scope } from '../../connectors/intake/api-keys.ts';
import { loadConfig } from '../../lib/config.ts';
import { PermitflowError } from '../../lib/errors.ts';

function parseScopes(value: string): Scope[] {
  const scopes = value.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  const unknown = scopes.filter((s) => !(SCOPES as readonly string[]).includes(s));
  if (unknown.length > 0 || scopes.length === 0) throw new InvalidArgumentError(`expected scopes from ${SCOPES.join(', ')}, comma-separated`);
  return scopes as Scope[];
}

function parsePositive(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('expected a positive whole number');
  return n;
}

export function keysCommand(name = 'keys'): Command {
  const keys = new Command(name).description("Manage the intake clients' API keys (stored hashed in INTAKE_API_KEYS_FILE)");
  keys
    .command('create')
    .description('Create a key for a client and print it (once: only its SHA-256 is stored)')
    .requiredOption('--client <id>', 'client id, e.g. portal, agency-odot, clerk-tool')
    .option('--scopes <list>', `comma-separated scopes (${SCOPES.join(', ')})`, parseScopes, ['submit', 'read'] as Scope[])
    .option('--rate <perSecond>', 'rate limit of this client (default INTAKE_RATE_LIMIT_PER_S)', parsePositive)
    .action((options: { client: string; scopes: Scope[]; rate?: number }) => {
      const { apiKeysFile } = loadConfig().intake;
      const { key, record } = createApiKey(apiKeysFile, { client: options.client, scopes: options.scopes, ...(options.rate !== undefined && { rateLimitPerSecond: options.rate }) });
      console.error(`created key ${record.id} for ${record.client} (${record.scopes.join(',')}) in ${apiKeysFile}; it is shown only now:`);
      console.log(key);
    });
  keys
    .command('list')
    .description('List keys (id, client, scopes, created), never the keys themselves')
    .action(() => {
      const { apiKeysFile } = loadConfig().intake;
      const records = readKeyFile(apiKeysFile);
      if (records.length === 0) console.log(`no keys in ${apiKeysFile}`);
      for (const r of records) console.log(`${r.id}  ${r.client.padEnd(20)}  ${r.scopes.join(',').padEnd(12)}  ${r.createdAt}${r.rateLimitPerSecond ? `  ${r.rateLimitPerSecond}/s` : ''}`);
    });
  keys
    .command('revoke')
    .description('Revoke a key by id; a running intake stops accepting it within seconds')
    .argument('<id>', 'key id, as `keys list` shows it')
    .action((id: string) => {
      const { apiKeysFile } = loadConfig().intake;
      if (!revokeApiKey(apiKeysFile, id)) throw PermitflowError.permanent('PF_API_KEY_UNKNOWN', `no key ${id} in ${apiKeysFile}`);
      console.log(`revoked ${id}`);
    });
  return keys;
}

export function intakeCommand(): Command {
  return new Command('intake')
    .description('Run the HTTP intake gateway (POST /v1/submissions); `intake keys` manages API keys')
    .addCommand(keysCommand())
    .action(async () => {
      // Loaded here, not above: `--help` and the key commands must not pay for Fastify, Kafka and the AWS SDK.
      const [{ startIntake }, { createLogger }, { startConfiguredTracing }] = await Promise.all([
        import('../../connectors/intake/server.ts'),
        import('../../lib/logger.ts'),
        import('../../lib/observability/tracing.ts'),
      ]);
      const config = loadConfig();
      const logger = createLogger({ level: config.logLevel, name: 'intake' });
      const tracing = startConfiguredTracing(config.tracing, 'intake');
      const intake = await startIntake(config, { logger });
      await new Promise<void>((resolve) => {
        const stop = (signal: NodeJS.Signals) => {
          logger.info({ signal }, 'shutting down: finishing in-flight requests, flushing the producer');
          intake.close().then(resolve, (err: unknown) => {
            logger.error({ err }, 'shutdown failed');
            process.exitCode = 1;
            resolve();
          });
        };
        process.once('SIGTERM', stop);
        process.once('SIGINT', stop);
      });
      await tracing.shutdown();
      logger.info('intake stopped');
    });
}
