/**
 * `permitflow dlq list|show|replay`: the dead-letter queue for operators. `list` filters dead
 * letters, `show` prints one in full, `replay` puts original records back on their topics with
 * a canary first and a rate limit (see connectors/dlq.ts), only to the input topic of the stage
 * a letter names; parked letters (replays that failed again) are skipped unless
 * `--include-parked`, letters replayed before unless `--force`.
 */
import { Command, Option } from 'commander';
import type { Kafka } from 'kafkajs';
import type * as DlqModule from '../../connectors/dlq.ts';
import type { DlqEntry, DlqFilter } from '../../connectors/dlq.ts';
import { PermitflowError } from '../../lib/errors.ts';
import type { Serde } from '../../schemas/serde.ts';
import { printable, printableJson, printableLines } from '../printable.ts';
import type { Topology } from '../../topology/topics.ts';

interface FilterOptions {
  stage?: string;
  errorClass?: string;
  since?: string;
  until?: string;
  batch?: string;
  hash?: string;
}

function isoTime(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw PermitflowError.permanent('PF_BAD_ARGUMENT', `${flag} expects an ISO 8601 time, not '${value}'`);
  return ms;
}

export function toFilter(o: FilterOptions): DlqFilter {
  return {
    ...(o.stage !== undefined && { stage: o.stage }),
    ...(o.errorClass !== undefined && { errorClass: o.errorClass }),
    ...(o.since !== undefined && { since: isoTime('--since', o.since) }),
    ...(o.until !== undefined && { until: isoTime('--until', o.until) }),
    ...(o.batch !== undefined && { batchId: o.batch }),
    ...(o.hash !== undefined && { submissionHash: o.hash }),
  };
}

function withFilters(cmd: Command): Command {
  return cmd
    .option('--stage <stage>', 'only letters of this stage (windower, enricher, validator, decider, importer)')
    .option('--error-class <class>', 'only letters of this error class, e.g. PF_DECODE_FAILED')
    .option('--since <iso>', 'only letters whose last failure is at or after this time')
    .option('--until <iso>', 'only letters whose last failure is at or before this time')
    .option('--batch <id>', 'only letters of this batch')
    .option('--hash <prefix>', 'only letters whose submission hash starts with this');
}

/** Runs `run` with the DLQ's clients; the modules load here, not above, so `--help` stays fast. */
async function withDlq<T>(run: (kafka: Kafka, serde: Serde, topology: Topology, dlq: typeof DlqModule) => Promise<T>): Promise<T> {
  const [dlq, { loadConfig }, { createKafka }, { createLogger }, { createRegistry, createSerde }, { buildTopology }] = await Promise.all([
    import('../../connectors/dlq.ts'),
    import('../../lib/config.ts'),
    import('../../lib/kafka.ts'),
    import('../../lib/logger.ts'),
    import('../../schemas/serde.ts'),
    import('../../topology/topics.ts'),
  ]);
  const config = loadConfig();
  const kafka = createKafka(config, createLogger({ level: 'warn', name: 'dlq' }));
  return run(kafka, createSerde(createRegistry(config)), buildTopology(config.topology), dlq);
}

const time = (ms: number): string => new Date(ms).toISOString();

export function status(e: DlqEntry): string {
  if (e.letter.parked) return 'parked';
  if (e.replayedAs !== null) return `replayed->${e.replayedAs}`;
  return '';
}

export function formatTable(entries: DlqEntry[]): string {
  const rows = [
    ['DLQ', 'LAST FAILURE', 'STAGE', 'ERROR CLASS', 'SUBMISSION', 'ATTEMPT', 'STATUS', 'MESSAGE'],
    ...entries.map((e) =>
      // Escaped before the widths are measured: the table stays aligned and no control character runs.
      [e.id, time(e.letter.lastFailureAt), e.letter.stage, e.letter.errorClass, (e.letter.submissionHash ?? '-').slice(0, 12), String(e.letter.attempt), status(e) || '-', e.letter.errorMessage.replace(/[ \t\r\n]+/g, ' ').slice(0, 80)].map(printable),
    ),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n');
}

/** The original value: pretty JSON when it is UTF-8 JSON, plain text when printable, else a hex and base64 preview. */
export function describeBytes(bytes: Buffer | null, limit = 4096): string[] {
  if (bytes === null) return ['(none)'];
  const text = bytes.toString('utf8');
  if (Buffer.from(text, 'utf8').equals(bytes)) {
    try {
      return JSON.stringify(JSON.parse(text), null, 2).slice(0, limit).split('\n');
    } catch {
      // not JSON: plain text is shown as is, anything else as a binary preview
      // eslint-disable-next-line no-control-regex
      if (!/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/.test(text)) return [`(text, not JSON) ${text.slice(0, limit)}`];
    }
  }
  const head = bytes.subarray(0, 64);
  return [
    `${bytes.length} bytes, not UTF-8 JSON (Avro in the Confluent wire format starts with 00 and a 4-byte schema id)`,
    `hex    ${head.toString('hex')}${bytes.length > head.length ? '…' : ''}`,
    `base64 ${bytes.subarray(0, Math.floor(limit * 0.75)).toString('base64')}${bytes.length > limit * 0.75 ? '…' : ''}`,
  ];
}

export function formatLetter(e: DlqEntry): string {
  const l = e.letter;
  const lines = [
    `dead letter ${e.id}${l.parked ? '  PARKED (a replay that failed again: never replayed automatically)' : ''}${e.replayedAs ? `  replayed, failed again as ${e.replayedAs}` : ''}`,
    `  submission     ${l.submissionHash ?? '-'}`,
    `  batch          ${l.batchId ?? '-'}`,
    `  stage          ${l.stage} (group ${l.consumerGroup}, worker ${l.workerId})`,
    `  error          ${l.errorClass}: ${l.errorMessage}`,
    `  attempt        ${l.attempt}, first failure ${time(l.firstFailureAt)}, last failure ${time(l.lastFailureAt)}`,
    `  original       ${l.originalTopic}[${l.originalPartition}]@${l.originalOffset} at ${time(l.originalTimestamp)}`,
    `  original key   ${l.originalKey === null ? '-' : l.originalKey.toString('utf8')}`,
    `  trace          ${l.traceId ?? '-'}`,
    '  error chain',
    ...(l.errorChain.length === 0 ? ['    (empty)'] : l.errorChain.map((m, i) => `    ${i + 1}. ${m}`)),
    '  original headers',
    ...(Object.keys(l.originalHeaders).length === 0 ? ['    (none)'] : Object.entries(l.originalHeaders).map(([k, v]) => `    ${k}: ${v}`)),
    '  original value',
    ...describeBytes(l.originalValue).map((s) => `    ${s}`),
  ];
  return printableLines(lines);
}

function toJson(e: DlqEntry): unknown {
  const l = e.letter;
  return {
    ...e,
    letter: { ...l, originalKey: l.originalKey?.toString('utf8') ?? null, originalValue: l.originalValue?.toString('base64') ?? null },
  };
}

export function dlqCommand(): Command {
  const dlq = new Command('dlq').description('Inspect and replay dead letters');

  dlq.addCommand(
    withFilters(new Command('list').description('List dead letters, oldest first per partition'))
      .option('--json', 'print the dead letters as JSON (original bytes in base64)')
      .action(async (options: FilterOptions & { json?: boolean }) => {
        const filter = toFilter(options);
        const entries = await withDlq((kafka, serde, topology, { listDeadLetters }) => listDeadLetters(kafka, serde, topology, filter));
        if (options.json) console.log(printableJson(entries.map(toJson)));
        else console.log(entries.length === 0 ? 'no dead letters match' : `${formatTable(entries)}\n${entries.length} dead letter(s), ${entries.filter((e) => e.letter.parked).length} parked`);
      }),
  );

  dlq.addCommand(
    new Command('show')
      .description('Print a dead letter in full')
      .argument('<id>', '<dlq partition>:<offset>, or a submission hash (or prefix)')
      .option('--json', 'print as JSON (original bytes in base64)')
      .action(async (id: string, options: { json?: boolean }) => {
        const entries = await withDlq((kafka, serde, topology, { listDeadLetters }) => listDeadLetters(kafka, serde, topology));
        const found = /^\d+:\d+$/.test(id) ? entries.filter((e) => e.id === id) : entries.filter((e) => (e.letter.submissionHash ?? '').toLowerCase().startsWith(id.toLowerCase()));
        if (found.length === 0) throw PermitflowError.permanent('PF_NOT_FOUND', `no dead letter ${id}`);
        console.log(options.json ? printableJson(found.map(toJson)) : found.map(formatLetter).join('\n\n'));
      }),
  );

  dlq.addCommand(
    withFilters(new Command('replay').description('Replay the original records of dead letters to their topics: a canary first, then the rest at a rate'))
      .addOption(new Option('--rate <n>', 'records per second').default('50'))
      .addOption(new Option('--canary <n>', 'records replayed alone first; the rest follow only if they are processed and not dead-lettered again').default('1'))
      .addOption(new Option('--canary-timeout <ms>', 'how long to wait for the canary').default('60000'))
      .option('--include-parked', 'also replay parked letters (replays that failed again)')
      .option('--force', 'also replay letters replayed before (every replay is recorded, so without it a letter goes back once)')
      .option('--dry-run', 'only print what would be replayed')
      .action(async (options: FilterOptions & { rate: string; canary: string; canaryTimeout: string; includeParked?: boolean; force?: boolean; dryRun?: boolean }) => {
        const number = (flag: string, v: string, min: number) => {
          const n = Number(v);
          if (!Number.isFinite(n) || n < min) throw PermitflowError.permanent('PF_BAD_ARGUMENT', `${flag} expects a number >= ${min}, not '${v}'`);
          return n;
        };
        const rate = number('--rate', options.rate, Number.MIN_VALUE);
        const canary = Math.trunc(number('--canary', options.canary, 0));
        const canaryTimeoutMs = number('--canary-timeout', options.canaryTimeout, 0);
        const result = await withDlq((kafka, serde, topology, { replayDeadLetters }) =>
          replayDeadLetters(kafka, serde, topology, {
            filter: toFilter(options),
            rate,
            canary,
            canaryTimeoutMs,
            includeParked: options.includeParked ?? false,
            force: options.force ?? false,
            dryRun: options.dryRun ?? false,
            onProgress: (m) => console.log(printable(m)),
          }),
        );
        for (const { entry, detail } of result.skipped) console.log(printable(`skipped ${entry.id} (${detail})`));
        if (result.outcome === 'dry-run') console.log(formatTable(result.selected));
        for (const r of result.replayed) console.log(`replayed ${r.from} -> ${r.topic}[${r.partition}]@${r.offset}`);
        if (result.outcome === 'canary-failed') throw PermitflowError.permanent('PF_CANARY_FAILED', printable(result.message));
        console.log(printable(result.message));
      }),
  );
  return dlq;
}
