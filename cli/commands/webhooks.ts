/**
 * `permitflow webhooks`: the subscriptions of integrators to signed status events, and their
 * queues. `add` prints the subscription's secret once (receivers verify signatures with it);
 * no other command shows it. The notifier (`permitflow run notifier`) delivers.
 *
 * A subscription gets the events of its client's own submissions (the intake's authenticated
 * client); `--all-clients` makes an operator-level one, which gets every client's and may take
 * batch.completed (a batch mixes clients' submissions).
 */
import { Command, Option } from 'commander';
import { PermitflowError } from '../../lib/errors.ts';
import { printableJson, printableLines } from '../printable.ts';

const EVENT_TYPES = ['submission.received', 'submission.accepted', 'submission.rejected', 'batch.completed'] as const;

async function withStore<T>(work: (pool: import('pg').Pool, config: import('../../lib/config.ts').Config) => Promise<T>): Promise<T> {
  const [{ loadConfig }, { createWebhookPool, migrateWebhooks }] = await Promise.all([import('../../lib/config.ts'), import('../../connectors/webhooks/store.ts')]);
  const config = loadConfig();
  const pool = createWebhookPool(config, { applicationName: 'permitflow-webhooks-cli', max: 2 });
  try {
    await migrateWebhooks(pool, config.webhooks.schema);
    return await work(pool, config);
  } finally {
    await pool.end();
  }
}

/** The client, and whether the subscription takes every client's submissions. */
const scopeOf = (s: { client: string; allClients: boolean }): string => (s.allClients ? `${s.client} (all clients)` : s.client);

function eventTypes(list: string): Array<(typeof EVENT_TYPES)[number]> {
  const types = list.split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = types.filter((t) => !(EVENT_TYPES as readonly string[]).includes(t));
  if (unknown.length > 0 || types.length === 0) throw PermitflowError.permanent('PF_WEBHOOK_EVENT_TYPES', `unknown event types ${unknown.join(', ') || '(none given)'}: choose from ${EVENT_TYPES.join(', ')}`);
  return types as Array<(typeof EVENT_TYPES)[number]>;
}

export function webhooksCommand(): Command {
  const command = new Command('webhooks').description('Signed status webhooks for integrators: add, list, remove subscriptions; list deliveries; replay dead letters');

  command
    .command('add')
    .description('Subscribe a client URL to events; prints the signing secret once')
    .requiredOption('--client <id>', "client the subscription belongs to (its intake key's client, e.g. portal): it gets the events of this client's submissions")
    .option('--all-clients', "operator-level: the events of every client's submissions, and batch.completed")
    .requiredOption('--url <url>', 'receiver URL (https, a public address unless WEBHOOKS_ALLOW_PRIVATE_TARGETS names it)')
    .option('--events <types>', `comma-separated event types (${EVENT_TYPES.join(', ')}; default: every submission event, and batch.completed with --all-clients)`)
    .option('--json', 'print as JSON')
    .action(async (options: { client: string; allClients?: boolean; url: string; events?: string; json?: boolean }) => {
      const allClients = options.allClients ?? false;
      const types = eventTypes(options.events ?? EVENT_TYPES.filter((t) => allClients || t !== 'batch.completed').join(','));
      const { checkUrl } = await import('../../connectors/webhooks/target-guard.ts');
      await withStore(async (pool, config) => {
        // Refused now with the reason, rather than dead-lettered at the first event.
        checkUrl(options.url, config.webhooks);
        const { addSubscription } = await import('../../connectors/webhooks/store.ts');
        const s = await addSubscription(pool, { client: options.client, allClients, url: options.url, eventTypes: types });
        if (options.json) console.log(printableJson({ id: s.id, client: s.client, allClients: s.allClients, url: s.url, eventTypes: s.eventTypes, secret: s.secret }));
        else console.log(printableLines([`subscription ${s.id} (${scopeOf(s)}) -> ${s.url}`, `events ${s.eventTypes.join(', ')}`, `secret ${s.secret}`, 'The secret is shown only now: give it to the receiver to verify webhook-signature.']));
      });
    });

  command
    .command('list')
    .description('Subscriptions with their queues (pending, delivered, dead); never the secrets')
    .option('--client <id>', "only this client's subscriptions")
    .option('--json', 'print as JSON')
    .action(async (options: { client?: string; json?: boolean }) => {
      const { listSubscriptions } = await import('../../connectors/webhooks/store.ts');
      await withStore(async (pool) => {
        const subscriptions = await listSubscriptions(pool, options.client);
        if (options.json) return console.log(printableJson(subscriptions));
        if (subscriptions.length === 0) return console.log('no subscriptions');
        console.log(
          printableLines(
            subscriptions.map((s) => `${s.id}  ${scopeOf(s)}  ${s.url}  [${s.eventTypes.join(',')}]  pending ${s.pending}  delivered ${s.delivered}  dead ${s.dead}${s.oldestPendingAt ? `  oldest pending ${s.oldestPendingAt.toISOString()}` : ''}`),
          ),
        );
      });
    });

  command
    .command('remove')
    .argument('<id>', 'subscription id')
    .description('Delete a subscription and its queue')
    .option('--client <id>', 'only if it belongs to this client')
    .action(async (id: string, options: { client?: string }) => {
      const { removeSubscription } = await import('../../connectors/webhooks/store.ts');
      await withStore(async (pool) => {
        if (!(await removeSubscription(pool, id, options.client))) throw PermitflowError.permanent('PF_WEBHOOK_UNKNOWN', `no subscription ${id}${options.client ? ` of client ${options.client}` : ''}`);
        console.log(printableLines([`removed ${id}`]));
      });
    });

  command
    .command('deliveries')
    .description('Deliveries in queue order, with attempts and the last error')
    .option('--subscription <id>', 'one subscription')
    .option('--client <id>', "only this client's subscriptions")
    .addOption(new Option('--status <status>', 'only this status').choices(['pending', 'delivered', 'dead']))
    .option('--limit <n>', 'at most this many', '100')
    .option('--json', 'print as JSON')
    .action(async (options: { subscription?: string; client?: string; status?: string; limit: string; json?: boolean }) => {
      const { listDeliveries } = await import('../../connectors/webhooks/store.ts');
      await withStore(async (pool) => {
        const rows = await listDeliveries(pool, { ...(options.subscription && { subscriptionId: options.subscription }), ...(options.client && { client: options.client }), ...(options.status && { status: options.status }), limit: Number(options.limit) });
        if (options.json) return console.log(printableJson(rows));
        console.log(printableLines(rows.map((d) => `${d.seq}  ${d.subscriptionId}  ${d.eventId}  ${d.type}  ${d.status}  attempts ${d.attempts}${d.lastStatus ? `  HTTP ${d.lastStatus}` : ''}${d.lastError ? `  ${d.lastError}` : ''}`)));
      });
    });

  command
    .command('replay')
    .description('Queue dead letters (or delivered events) again: same event ids, attempts reset, due now')
    .option('--subscription <id>', 'one subscription')
    .option('--client <id>', "only this client's subscriptions")
    .option('--since <iso>', 'deliveries queued at or after this time')
    .addOption(new Option('--status <status>', 'which deliveries').choices(['dead', 'delivered', 'all']).default('dead'))
    .action(async (options: { subscription?: string; client?: string; since?: string; status: 'dead' | 'delivered' | 'all' }) => {
      const since = options.since === undefined ? undefined : new Date(options.since);
      if (since && Number.isNaN(since.getTime())) throw PermitflowError.permanent('PF_WEBHOOK_SINCE', `--since ${options.since}: expected an ISO 8601 time`);
      const { replayDeliveries } = await import('../../connectors/webhooks/store.ts');
      await withStore(async (pool) => {
        const n = await replayDeliveries(pool, { status: options.status, ...(options.subscription && { subscriptionId: options.subscription }), ...(options.client && { client: options.client }), ...(since && { since }) });
        console.log(`${n} deliveries queued again`);
      });
    });

  return command;
}
