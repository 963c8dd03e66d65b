/**
 * `permitflow trace <id>`: the audit timeline of a submission from the read model, for a
 * compliance officer: every state with its time, worker, batch, idempotency key and trace id,
 * the lookups, findings and reasons, dead letters, and the permit. `<id>` is a submission hash,
 * a hash prefix (8+ hex digits) or the source system's reference; a reference resubmitted with
 * changes names several submissions, and each is printed.
 */
import { Command } from 'commander';
import type { Timeline, TimelineEvent } from '../../connectors/read-model/index.ts';
import { PermitflowError } from '../../lib/errors.ts';
import type { ExtractionSummary, Finding, Reason } from '../../schemas/types.ts';
import { printableJson, printableLines } from '../printable.ts';

const time = (ms: number | null): string => (ms === null ? '-' : new Date(ms).toISOString());
const dollars = new Intl.NumberFormat('en-US', { style: 'currency', currency: 'USD' });
const money = (cents: unknown): string => (typeof cents === 'number' ? dollars.format(cents / 100) : 'none');

/** How a PDF application was read: method, pages, each field's source, page and confidence, and what needs review. */
function extractionLines(x: ExtractionSummary | null | undefined): string[] {
  if (!x) return [];
  const ocr = x.ocrPages.length > 0 ? `, OCR of page ${x.ocrPages.join(', ')}` : '';
  return [
    `extracted from a PDF by ${x.method === 'ocr' ? 'OCR' : 'its form fields'} (form ${x.form}, ${x.pages} page${x.pages === 1 ? '' : 's'}${ocr}); needs review: ${x.needsReview.join(', ') || 'none'}`,
    `fields: ${x.fields.map((f) => `${f.field} ${f.source} p${f.page} ${f.confidence.toFixed(2)}`).join(', ')}`,
  ];
}

/** The lines under an event: what that stage found or decided. */
function details(e: TimelineEvent): string[] {
  const d = e.detail;
  switch (e.state) {
    case 'received': {
      const payload = d.payload as { size: number; inline: boolean; objectKey: string | null };
      const client = d.sourceClient as string | null;
      const attachments = (d.attachments as Array<{ kind: string }>).map((a) => a.kind);
      return [
        `source ${String(d.source)}${client ? ` (${client})` : ''}, reference ${(d.sourceReference as string | null) ?? '-'}, raw offset ${String(d.rawOffset)}`,
        `payload ${payload.size} bytes ${payload.inline ? 'inline' : `at ${payload.objectKey}`}; attachments: ${attachments.join(', ') || 'none'}`,
        ...extractionLines(d.extraction as ExtractionSummary | null | undefined),
      ];
    }
    case 'chunked':
      return [`batch of ${String(d.batchSize)}`];
    case 'enriched':
      return [`lookups: ${(d.lookups as Array<{ lookup: string; outcome: string; cacheHit: boolean }>).map((l) => `${l.lookup} ${l.outcome}${l.cacheHit ? ' (cached)' : ''}`).join(', ')}`];
    case 'validated': {
      const findings = d.findings as Finding[];
      return [
        `rule set ${String(d.ruleSetVersion)}; fee due ${d.computedFeeCents === null ? 'not determined' : money(d.computedFeeCents)}, paid ${money(d.paidFeeCents)}`,
        ...(findings.length === 0 ? ['no findings'] : findings.map((f) => `finding ${f.severity} ${f.code}${f.field ? ` at ${f.field}` : ''}: ${f.message}`)),
      ];
    }
    case 'accepted':
      return [`${String(d.permitType)} permit, review track ${String(d.reviewTrack)}, fee ${money(d.computedFeeCents)}; warnings: ${(d.warnings as string[]).join(', ') || 'none'}`];
    case 'rejected':
      return (d.reasons as Reason[]).map((r) => `reason ${r.code}${r.field ? ` at ${r.field}` : ''}: ${r.message}`);
    case 'dead_lettered':
      return [`stage ${String(d.stage)} (${String(d.consumerGroup)}) gave up: ${String(d.errorClass)}: ${String(d.errorMessage)}`, `original ${String(d.originalTopic)}[${String(d.originalPartition)}]@${String(d.originalOffset)}`];
  }
}

export function formatTimeline(t: Timeline): string {
  const lines = [
    `submission ${t.submissionHash}`,
    `  reference  ${t.sourceReference ?? '-'}   source ${t.source ?? '-'}${t.sourceClient ? ` (${t.sourceClient})` : ''}   received ${time(t.receivedAt)}`,
    `  status     ${t.status} since ${time(t.statusAt)}`,
  ];
  if (t.batch) {
    const b = t.batch;
    lines.push(`  batch      ${b.batchId}: ${b.memberCount ?? '?'} members, ${b.accepted} accepted, ${b.rejected} rejected, ${b.deadLettered} dead-lettered${b.complete ? ', complete' : ''}`);
  }
  if (t.permit) lines.push(`  permit     ${t.permit.permitType}, review track ${t.permit.reviewTrack}, fee ${money(t.permit.computedFeeCents)}, published ${time(t.permit.publishedAt)}`);
  lines.push('  timeline');
  for (const e of t.events) {
    lines.push(`    ${e.state.padEnd(13)} ${time(e.at)}  worker ${e.workerId}  attempt ${e.attempt}`);
    lines.push(`      batch ${e.batchId ?? '-'}  idempotency key ${e.idempotencyKey ?? '-'}  trace ${e.traceId ?? '-'}`);
    for (const line of details(e)) lines.push(`      ${line}`);
  }
  // References, findings and messages come from applicants and legacy exports: escaped.
  return printableLines(lines);
}

export function traceCommand(): Command {
  return new Command('trace')
    .description('Print the audit timeline of a submission from the read model')
    .argument('<id>', 'submission hash, hash prefix (8+ hex digits) or source reference')
    .option('--json', 'print the timelines as JSON')
    .action(async (id: string, options: { json?: boolean }) => {
      // Loaded here, not above, like every command's modules: `--help` stays fast.
      const [{ createReadModelPool, findSubmissions, readTimeline }, { loadConfig }] = await Promise.all([import('../../connectors/read-model/index.ts'), import('../../lib/config.ts')]);
      const config = loadConfig();
      const pool = createReadModelPool(config, { applicationName: 'permitflow-trace', max: 2 });
      try {
        const hashes = await findSubmissions(pool, id);
        if (hashes.length === 0) throw PermitflowError.permanent('PF_NOT_FOUND', `no submission ${id} in the read model (schema ${config.readModel.schema})`);
        const timelines = (await Promise.all(hashes.map((h) => readTimeline(pool, h)))).filter((t): t is Timeline => t !== undefined);
        console.log(options.json ? printableJson(timelines) : timelines.map(formatTimeline).join('\n\n'));
      } finally {
        await pool.end();
      }
    });
}
