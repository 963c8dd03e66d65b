/**
 * File-drop connector: legacy CSV and JSON Lines exports into the raw topic, one submission per
 * row, exactly once across crashes, bad rows to the DLQ. `importFile` takes one file;
 * `watchInbox` takes the files an SFTP server drops into a folder.
 */
export { importFile, type ImportDeps, type ImportReport, type Progress } from './importer.ts';
export { loadMapping, parseMapping, type Mapping } from './mapping.ts';
export { formatSummary } from './report.ts';
export { watchInbox, type Watcher, type WatcherOptions } from './watcher.ts';
