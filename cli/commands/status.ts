/**
 * `permitflow status`: a live view of every stage of the topology, redrawn in place like `top`
 * (see cli/status/ for what each column means and where it comes from). On a terminal it
 * refreshes every `--interval` until q, Ctrl-C or SIGTERM; otherwise, or with `--once`, it
 * prints one snapshot and exits; `--json` prints that snapshot as JSON.
 */
import { join } from 'node:path';
import { Command, Option } from 'commander';
import { PermitflowError } from '../../lib/errors.ts';
import { printableJson } from '../printable.ts';
import type { StatusSnapshot } from '../status/snapshot.ts';

interface StatusOptions {
  interval: string;
  once?: boolean;
  json?: boolean;
  metrics?: string;
}

function parseInterval(value: string): number {
  const ms = Number(value);
  if (!Number.isInteger(ms) || ms < 200) throw PermitflowError.permanent('PF_BAD_ARGUMENT', `--interval expects whole milliseconds, 200 or more, not '${value}'`);
  return ms;
}

export function parseMetricsUrls(value: string): string[] {
  const urls = value.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  for (const url of urls) {
    let protocol: string;
    try {
      protocol = new URL(url).protocol;
    } catch {
      throw PermitflowError.permanent('PF_BAD_ARGUMENT', `--metrics expects comma-separated http(s) URLs, not '${url}'`);
    }
    if (protocol !== 'http:' && protocol !== 'https:') throw PermitflowError.permanent('PF_BAD_ARGUMENT', `--metrics expects http(s) URLs, not '${url}'`);
  }
  return urls;
}

/** Redraws every `intervalMs` until q, Ctrl-C or SIGTERM; each snapshot is bounded in time by its sources. */
async function watch(collect: () => Promise<StatusSnapshot>, intervalMs: number, renderStatus: (snapshot: StatusSnapshot, options: { hint: string }) => string): Promise<void> {
  const { default: logUpdate } = await import('log-update');
  let stop!: () => void;
  const stopped = new Promise<void>((resolve) => (stop = resolve));
  const onKey = (data: Buffer) => {
    const key = data.toString();
    // In raw mode Ctrl-C arrives as a key, not as SIGINT.
    if (key === 'q' || key === 'Q' || key === '\u0003') stop();
  };
  const stdin = process.stdin;
  const keys = stdin.isTTY;
  if (keys) {
    stdin.setRawMode(true);
    stdin.on('data', onKey);
    stdin.resume();
  }
  // `on`, not `once`: log-update's cursor restore (signal-exit) re-raises a signal that finds
  // no other listener left, which would kill the process before the terminal is restored.
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  let halted = false;
  void stopped.then(() => (halted = true));
  const hint = `${keys ? 'q quit' : 'Ctrl-C quit'} · every ${intervalMs / 1000} s`;
  try {
    while (!halted) {
      const snapshot = await Promise.race([collect(), stopped.then(() => null)]);
      if (snapshot === null || halted) break;
      logUpdate(renderStatus(snapshot, { hint }));
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([new Promise((resolve) => (timer = setTimeout(resolve, intervalMs))), stopped]);
      clearTimeout(timer);
    }
  } finally {
    logUpdate.done();
    process.removeListener('SIGINT', stop);
    process.removeListener('SIGTERM', stop);
    if (keys) {
      stdin.removeListener('data', onKey);
      stdin.setRawMode(false);
      stdin.pause();
    }
  }
}

export function statusCommand(): Command {
  return new Command('status')
    .description('Live view of every stage: consumer lag (total, worst partition), records/s, in-flight records and dead letters')
    .addOption(new Option('--interval <ms>', 'refresh period of the live view').default('2000'))
    .option('--once', 'print one snapshot and exit (also when stdout is not a terminal)')
    .option('--json', 'print one snapshot as JSON and exit')
    .option('--metrics <url,...>', 'Prometheus endpoints of the processes to read in-flight records from (default: http://127.0.0.1:<METRICS_PORT>/metrics; "" for none)')
    .action(async (options: StatusOptions) => {
      const intervalMs = parseInterval(options.interval);
      // Loaded here, not above, like every command's modules: `--help` stays fast.
      const [{ loadConfig }, { buildTopology }, { renderStatus }, { collectStatus, createRateHistory }, { defaultMetricsUrls, openStatusSources }] = await Promise.all([
        import('../../lib/config.ts'),
        import('../../topology/topics.ts'),
        import('../status/render.ts'),
        import('../status/snapshot.ts'),
        import('../status/sources.ts'),
      ]);
      const config = loadConfig();
      const topology = buildTopology(config.topology);
      const metricsUrls = options.metrics === undefined ? defaultMetricsUrls(config) : parseMetricsUrls(options.metrics);
      const live = !options.once && !options.json && process.stdout.isTTY;
      const opened = openStatusSources(config, topology, {
        metricsUrls,
        scrapeTimeoutMs: Math.min(2_000, intervalMs),
        dlqReadTimeoutMs: 120_000,
      });
      // Live, a source that does not answer within the period shows as unknown rather than
      // freezing the screen; a single snapshot waits longer (a first read of a large DLQ).
      const sources = { ...opened.sources, timeoutMs: live ? Math.max(5_000, intervalMs) : 130_000 };
      const history = createRateHistory(intervalMs);
      const collect = () => collectStatus(topology, sources, history);
      try {
        if (live) {
          await watch(collect, intervalMs, renderStatus);
        } else {
          const snapshot = await collect();
          // The last capacity plan rides along in JSON, next to the live figures it sizes.
          const plan = options.json ? (await import('../plan/summary.ts')).readPlanSummary(join(config.stack.dir, 'plan')) : null;
          console.log(options.json ? printableJson({ ...snapshot, plan }) : renderStatus(snapshot));
        }
      } finally {
        await opened.close();
      }
    });
}
