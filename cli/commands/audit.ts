/**
 * `permitflow audit`: the tamper-evident archive the archiver writes (connectors/audit).
 * `verify` checks every hash chain and signed root and names the first broken link; `show`
 * rebuilds a submission's history from the archive alone (Kafka, the registry and PostgreSQL
 * may be down); `seal` signs a root over the chains now, outside the archiver's daily one.
 */
import { Command, InvalidArgumentError } from 'commander';
import type { History, VerifyReport } from '../../connectors/audit/index.ts';
import { PermitflowError } from '../../lib/errors.ts';
import { printableJson, printableLines } from '../printable.ts';

async function openArchive() {
  const [audit, { loadConfig }, { buildTopology }] = await Promise.all([import('../../connectors/audit/index.ts'), import('../../lib/config.ts'), import('../../topology/topics.ts')]);
  const config = loadConfig();
  return { audit, config, topology: buildTopology(config.topology), store: audit.createAuditStore(config) };
}

export function formatReport(r: VerifyReport): string {
  const lines = [
    `${r.ok ? 'OK' : 'BROKEN'}: ${r.chains} chains, ${r.segments} segments, ${r.records} records, ${r.roots} signed roots, ${r.unsealedSegments} segments not yet under a root`,
  ];
  if (r.problems[0]) lines.push(`first broken link: ${r.problems[0].key}: ${r.problems[0].message}`);
  for (const p of r.problems.slice(1)) lines.push(`also broken: ${p.key}: ${p.message}`);
  for (const w of r.warnings) lines.push(`warning: ${w}`);
  return lines.join('\n');
}

export function formatHistory(h: History): string {
  const lines = [`submission ${h.submission}: ${h.entries.length} archived records`];
  for (const e of h.entries) {
    const r = e.record as { header?: { workerId?: string; batchId?: string | null; idempotencyKey?: string; attempt?: number }; batchId?: string; stage?: string; errorMessage?: string } | null;
    const at = new Date(Number(e.timestamp)).toISOString();
    lines.push(`  ${e.kind.padEnd(13)} ${at}  ${e.topic}[${e.partition}]@${e.offset}`);
    if (r?.header) lines.push(`      worker ${r.header.workerId ?? '-'}  attempt ${r.header.attempt ?? '-'}  batch ${r.header.batchId ?? '-'}  idempotency key ${r.header.idempotencyKey ?? '-'}`);
    else if (e.kind === 'batch') lines.push(`      batch ${r?.batchId ?? '-'}`);
    else if (e.kind === 'dead-letter') lines.push(`      stage ${r?.stage ?? '-'} gave up: ${r?.errorMessage ?? '-'}`);
    lines.push(`      from ${e.segmentKey}`);
  }
  for (const key of h.altered) lines.push(`  ALTERED: ${key} does not match its manifest; its records are left out (run \`permitflow audit verify\`)`);
  return printableLines(lines);
}

const sinceDate = (value: string): Date => {
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) throw new InvalidArgumentError('expected a date or time, e.g. 2026-12-01 or 2026-12-01T12:00:00Z');
  return d;
};

export function auditCommand(): Command {
  const audit = new Command('audit').description('Verify the tamper-evident audit archive, or rebuild a submission\'s history from it');
  audit
    .command('verify')
    .description('Check every hash chain and signed root; names the first broken link (exit 1)')
    .option('--since <time>', 'check the bytes of segments and roots written since then (links are always checked)', sinceDate)
    .option('--json', 'print the report as JSON')
    .action(async (options: { since?: Date; json?: boolean }) => {
      const { audit: a, config, topology, store } = await openArchive();
      try {
        const report = await a.verifyArchive(store, topology, a.verifyingKey(config), options.since ? { since: options.since } : {});
        console.log(options.json ? printableJson(report) : printableLines(formatReport(report).split('\n')));
        if (!report.ok) process.exitCode = 1;
      } finally {
        store.close();
      }
    });
  audit
    .command('show')
    .description("A submission's full history from the archive alone (no Kafka, registry or PostgreSQL)")
    .argument('<submission>', 'submission hash (64 hex digits)')
    .option('--json', 'print the history as JSON')
    .action(async (submission: string, options: { json?: boolean }) => {
      if (!/^[0-9a-f]{64}$/.test(submission)) throw PermitflowError.permanent('PF_BAD_ARGUMENT', 'expected a submission hash: 64 lower-case hex digits');
      const { audit: a, topology, store } = await openArchive();
      try {
        const history = await a.submissionHistory(store, topology, submission);
        if (history.entries.length === 0 && history.altered.length === 0) throw PermitflowError.permanent('PF_NOT_FOUND', `no record of submission ${submission} in the audit archive of namespace ${topology.options.namespace}`);
        console.log(options.json ? printableJson(history) : formatHistory(history));
        if (history.altered.length > 0) process.exitCode = 1;
      } finally {
        store.close();
      }
    });
  audit
    .command('seal')
    .description('Sign a root over the current head of every chain now (the archiver does daily)')
    .action(async () => {
      const { audit: a, config, topology, store } = await openArchive();
      try {
        const { key, root } = await a.sealRoot(store, a.signingKey(config), topology.options.namespace, a.archiveChains(topology));
        console.log(`signed ${key} over ${root.heads.length} chains`);
      } finally {
        store.close();
      }
    });
  return audit;
}
