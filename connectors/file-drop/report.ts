/** The human summary of an import report, for the CLI and the watcher's report files. */
import type { ImportReport } from './importer.ts';

const n = (x: number) => x.toLocaleString('en-US');

export function formatSummary(report: ImportReport): string {
  const { counts } = report;
  const lines = [`${report.file.name}: ${report.status}${report.file.encoding ? ` (${report.file.encoding}: ${report.file.encodingReason})` : ''}, mapping ${report.mapping.name}`];
  if (report.resumedFrom) lines.push(`  resumed at line ${n(report.resumedFrom.line + 1)} (byte ${n(report.resumedFrom.offset)}) after an interrupted run`);
  lines.push(
    `  read ${n(counts.read)} · produced ${n(counts.produced)} · duplicates ${n(counts.duplicates)} · bad rows ${n(counts.bad)}${counts.flagged > 0 ? ` · formula-like cells flagged in ${n(counts.flagged)}` : ''}`,
  );
  if (counts.duplicates > 0 || report.duplicatesCountedUpTo !== null) {
    lines.push(
      `  duplicates: rows repeating an earlier row of this file (same submission hash); they are produced and the windower drops them${report.duplicatesCountedUpTo !== null ? `; counted among the first ${n(report.duplicatesCountedUpTo)} distinct rows only` : ''}`,
    );
  }
  for (const bad of report.badRows.slice(0, 20)) lines.push(`  bad row ${report.file.name}:${bad.line}: ${bad.errorClass}: ${bad.message}`);
  if (report.badRows.length > 20 || counts.bad > report.badRows.length) lines.push(`  ... ${n(counts.bad - Math.min(20, report.badRows.length))} more bad rows in the DLQ`);
  if (report.error) lines.push(`  ${report.error.message}`);
  if (report.status === 'interrupted') lines.push('  interrupted: run the same import again to resume where it stopped');
  if (report.status === 'already-imported') lines.push('  this file was already imported with this mapping: nothing produced');
  if (report.status === 'completed') lines.push(`  ${n(report.rowsPerSecond)} rows/s, ${(report.elapsedMs / 1000).toFixed(1)} s`);
  return lines.join('\n');
}
