/**
 * `permitflow file-drop watch <inbox> --mapping <mapping>`: the drop-folder connector. Imports
 * each complete file dropped into the inbox (an SFTP upload folder), then moves it to the
 * archive or the quarantine folder, both outside the inbox (uploaders must not be able to
 * redirect them), with a report; runs until SIGTERM or SIGINT, which stop it at a
 * chunk boundary (an interrupted file resumes from its checkpoint on the next start).
 */
import { Command } from 'commander';

export function fileDropCommand(): Command {
  const command = new Command('file-drop').description('Drop-folder connector for legacy exports (SFTP uploads)');
  command
    .command('watch')
    .description('Watch an inbox folder and import every complete file with one mapping (FILE_DROP_* settings)')
    .argument('<inbox>', 'the folder files are dropped into')
    .requiredOption('--mapping <mapping>', 'mapping YAML file, or the name of a mapping in connectors/file-drop/mappings/')
    .option('--archive <dir>', 'where imported files go, outside the inbox (default: <inbox>.archive beside it)')
    .option('--quarantine <dir>', 'where refused and unreadable files go, outside the inbox (default: <inbox>.quarantine beside it)')
    .action(async (inbox: string, options: { mapping: string; archive?: string; quarantine?: string }) => {
      // Loaded here, not above, like every command's modules: `--help` stays fast.
      const [{ createImportDeps, resolveMapping }, { importFile, watchInbox }, { importPdf, isPdfDrop }, { loadConfig }, { createLogger }] = await Promise.all([
        import('../../connectors/file-drop/deps.ts'),
        import('../../connectors/file-drop/index.ts'),
        import('../../connectors/file-drop/pdf.ts'),
        import('../../lib/config.ts'),
        import('../../lib/logger.ts'),
      ]);
      const config = loadConfig();
      const logger = createLogger({ level: config.logLevel, name: 'file-drop' });
      const mapping = resolveMapping(options.mapping);
      const deps = createImportDeps(config, logger);
      const watcher = await watchInbox({
        inbox,
        ...(options.archive !== undefined && { archive: options.archive }),
        ...(options.quarantine !== undefined && { quarantine: options.quarantine }),
        pollMs: config.fileDrop.pollMs,
        stableMs: config.fileDrop.stableMs,
        requireMarker: config.fileDrop.requireMarker,
        logger,
        // A dropped PDF is one application for the extraction stage; CSV and JSON Lines go through the mapping.
        importFile: (path, signal) => (isPdfDrop(path) ? importPdf(path, deps, { maxBytes: config.intake.bodyLimitBytes }) : importFile(path, mapping, deps, { signal })),
      });
      logger.info({ inbox, mapping: mapping.name }, 'watching');
      const stop = () => void watcher.stop();
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
      await watcher.done;
      deps.close();
    });
  return command;
}
