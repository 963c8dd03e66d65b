/**
 * `permitflow import <file> --mapping <mapping>`: imports one legacy export (CSV or JSON Lines),
 * one submission per row, exactly once even across crashes (run it again to resume), bad rows
 * to the DLQ. A progress bar (rows/s, ETA) on a terminal, then the summary.
 *
 * Exit codes: 0 every row produced (or the file was already imported), 2 imported with bad rows
 * (they are in the DLQ, listed in the summary), 1 unreadable input (the message names file and
 * line; rows before that point stay imported), 130 interrupted (run again to resume).
 */
import { Command } from 'commander';
import type { ImportReport } from '../../connectors/file-drop/index.ts';

export function exitCodeOf(report: ImportReport): number {
  if (report.status === 'failed') return 1;
  if (report.status === 'interrupted') return 130;
  return report.counts.bad > 0 && report.status === 'completed' ? 2 : 0;
}

async function progressBar(enabled: boolean) {
  if (!enabled) return { update: () => undefined, stop: () => undefined };
  const { default: cliProgress } = await import('cli-progress');
  const bar = new cliProgress.SingleBar(
    { format: '{bar} {percentage}% | {rows} rows | {rate} rows/s | ETA {eta_formatted}', stream: process.stderr, hideCursor: true, etaBuffer: 20 },
    cliProgress.Presets.shades_classic,
  );
  const started = Date.now();
  let first: number | undefined;
  return {
    update(offset: number, size: number, rows: number) {
      if (first === undefined) {
        first = rows;
        bar.start(size, offset, { rows: 0, rate: 0 });
      }
      const seconds = (Date.now() - started) / 1000;
      bar.update(offset, { rows: rows.toLocaleString('en-US'), rate: Math.round((rows - first) / Math.max(seconds, 0.001)).toLocaleString('en-US') });
    },
    stop: () => bar.stop(),
  };
}

export function importCommand(): Command {
  return new Command('import')
    .description('Import a legacy CSV or JSON Lines export: one submission per row, exactly once (run again to resume), bad rows to the DLQ')
    .argument('<file>', 'the export file')
    .requiredOption('--mapping <mapping>', 'mapping YAML file, or the name of a mapping in connectors/file-drop/mappings/')
    .option('--json', 'print the full report as JSON instead of the summary')
    .action(async (file: string, options: { mapping: string; json?: boolean }) => {
      // Loaded here, not above, like every command's modules: `--help` stays fast.
      const [{ createImportDeps, resolveMapping }, { formatSummary, importFile }, { loadConfig }, { createLogger }] = await Promise.all([
        import('../../connectors/file-drop/deps.ts'),
        import('../../connectors/file-drop/index.ts'),
        import('../../lib/config.ts'),
        import('../../lib/logger.ts'),
      ]);
      const config = loadConfig();
      const logger = createLogger({ level: config.logLevel, name: 'import' });
      const mapping = resolveMapping(options.mapping);
      const deps = createImportDeps(config, logger);
      const controller = new AbortController();
      const interrupt = () => {
        if (controller.signal.aborted) process.exit(130);
        console.error('\nstopping after the chunk in hand (press again to stop at once; the import resumes from its checkpoint)');
        controller.abort();
      };
      process.on('SIGINT', interrupt);
      process.on('SIGTERM', interrupt);
      const bar = await progressBar(process.stderr.isTTY && !options.json);
      let report: ImportReport;
      try {
        report = await importFile(file, mapping, deps, {
          signal: controller.signal,
          onProgress: (p) => bar.update(p.offset, p.size, p.counts.read),
        });
      } finally {
        bar.stop();
        deps.close();
        process.off('SIGINT', interrupt);
        process.off('SIGTERM', interrupt);
      }
      if (options.json) console.log(JSON.stringify(report, null, 2));
      else console.log(formatSummary(report));
      if (report.status === 'failed') console.error(`permitflow: ${report.error?.message ?? `${file}: unreadable`}`);
      process.exitCode = exitCodeOf(report);
    });
}
