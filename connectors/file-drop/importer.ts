/**
 * Imports one export: rows mapped to permit applications, one submission envelope per row
 * (keyed by the hash of the canonical mapped row) to the raw topic, bad rows to the DLQ with
 * file, line and reason, in chunks that each commit in one transaction with the checkpoint
 * (see checkpoints.ts for why that is exactly-once across crashes).
 *
 * Memory stays bounded: records stream from the file with backpressure (the reader waits while
 * a chunk commits), at most two chunks exist at once (one committing, one filling), and the
 * duplicate counter has a fixed ceiling.
 *
 * Outcomes: a report with status `completed` (bad rows included), `already-imported` (the
 * checkpoint says done: a re-dropped identical file produces nothing), `interrupted` (the
 * signal fired; the next run resumes) or `failed` (the input is unreadable: the report names
 * file and line, and rows before that point stay imported; so does a file with more than
 * IMPORT_MAX_BAD_ROWS bad rows, at the first bad row past the cap). Infrastructure failures that
 * outlast IMPORT_RETRIES restarts from the checkpoint (paced by lib/backoff.ts, cut short by
 * the signal) are thrown.
 */
import { basename } from 'node:path';
import type { Kafka, Message } from 'kafkajs';
import { canonicalPayload, sha256Hex } from '../../domain/hashing.ts';
import { storePayload } from '../claim-check.ts';
import type { ObjectStore } from '../object-store.ts';
import { withRetries } from '../../lib/backoff.ts';
import type { Config } from '../../lib/config.ts';
import { buildDeadLetter } from '../../lib/dead-letter.ts';
import { classify, PermitflowError } from '../../lib/errors.ts';
import type { Logger } from '../../lib/logger.ts';
import { continueOrStart } from '../../lib/observability/tracing.ts';
import type { Serde } from '../../schemas/serde.ts';
import type { SubmissionEnvelope } from '../../schemas/types.ts';
import type { Topology } from '../../topology/topics.ts';
import { emptyCounts, openSession, type Checkpoint, type Counts } from './checkpoints.ts';
import { createFingerprints } from './fingerprints.ts';
import { compileMapping, type RowMapper } from './mapper.ts';
import type { Mapping } from './mapping.ts';
import { readCsv, readJsonl, type Position, type SourceItem } from './records.ts';
import { sanitizeName } from '../../domain/names.ts';
import { openSource, type SourceFile } from './source.ts';

export interface ImportDeps {
  kafka: Kafka;
  serde: Serde;
  topology: Topology;
  /** Where payloads above the inline limit go; without one such a row is a bad row. */
  objectStore?: ObjectStore;
  logger: Logger;
  settings: Config['fileDrop'] & { inlineLimitBytes: number; workerId: string };
}

export interface Progress {
  /** Bytes of the file covered by committed rows. */
  offset: number;
  size: number;
  line: number;
  counts: Counts;
}

export interface ImportOptions {
  signal?: AbortSignal;
  /** Called after each committed chunk. */
  onProgress?: (progress: Progress) => void;
}

export interface BadRow {
  line: number;
  errorClass: string;
  message: string;
}

export interface ImportReport {
  status: 'completed' | 'already-imported' | 'interrupted' | 'failed';
  path: string;
  file: { name: string; sha256: string | null; size: number | null; encoding: string | null; encodingReason: string | null; bom: boolean };
  mapping: { name: string; file: string };
  importId: string | null;
  /** Where this run started, when an earlier run had committed part of the file. */
  resumedFrom: { line: number; offset: number; read: number } | null;
  counts: Counts;
  /** The duplicate count covers the first this-many distinct rows only (memory ceiling). */
  duplicatesCountedUpTo: number | null;
  /** The first bad rows (all of them are in the DLQ). */
  badRows: BadRow[];
  error: { code: string; message: string; line: number | null } | null;
  startedAt: string;
  finishedAt: string;
  elapsedMs: number;
  /** Rows read per second in this run. */
  rowsPerSecond: number;
}

const BAD_ROWS_IN_REPORT = 100;
const DEAD_LETTER_VALUE_LIMIT = 64 * 1024;

/** Input problems: the file is at fault, not the infrastructure; the report says so. */
function isInputProblem(err: unknown): err is PermitflowError {
  return err instanceof PermitflowError && !err.retriable && /^PF_IMPORT_(NOT_FOUND|SYMLINK|HARDLINK|NOT_A_FILE|UNREADABLE|EMPTY|ENCODING|BINARY|MISSING_COLUMNS|UNSAFE_NAME|TOO_MANY_BAD_ROWS)$/.test(err.code);
}

interface Chunk {
  raw: Message[];
  dlq: Message[];
  rows: number;
  bytes: number;
}

const newChunk = (): Chunk => ({ raw: [], dlq: [], rows: 0, bytes: 0 });

/** One run from the committed checkpoint to the end of the file (or the signal). */
async function run(source: SourceFile, mapping: Mapping, mapper: RowMapper, deps: ImportDeps, options: ImportOptions, report: ImportReport): Promise<void> {
  const { topology, serde, settings, logger } = deps;
  const importId = report.importId!;
  const session = await openSession(deps.kafka, topology, importId, logger);
  try {
    const previous: Checkpoint | null = session.checkpoint;
    if (previous?.done) {
      report.status = 'already-imported';
      report.counts = previous.counts;
      return;
    }
    report.resumedFrom ??= previous ? { line: previous.line, offset: previous.offset, read: previous.counts.read } : null;
    const counts: Counts = previous ? { ...previous.counts } : emptyCounts();
    let position: Position = previous ? { offset: previous.offset, line: previous.line } : { offset: 0, line: 0 };
    let columns = previous?.columns ?? mapping.csv.columns ?? null;
    const encoding = previous?.encoding ?? source.encoding;
    const base = {
      version: 1 as const,
      importId,
      file: { name: source.name, sha256: source.sha256, size: source.size },
      mapping: { name: mapping.name, digest: mapping.digest },
      encoding,
      startedAt: previous?.startedAt ?? Date.now(),
    };
    // Uncommitted rows of a failed attempt come again: counting them as duplicates would be wrong.
    const fingerprints = createFingerprints(settings.duplicateTrackingRows);
    const reader = { ...source, encoding };
    const items: AsyncGenerator<SourceItem> =
      mapping.format === 'csv'
        ? readCsv(reader, { from: position, maxRecordBytes: settings.maxRecordBytes, delimiter: mapping.csv.delimiter, quote: mapping.csv.quote, columns })
        : readJsonl(reader, { from: position, maxRecordBytes: settings.maxRecordBytes });

    let chunk = newChunk();
    let inflight: Promise<void> | undefined;
    const flush = async (done: boolean): Promise<void> => {
      const checkpoint: Checkpoint = { ...base, offset: position.offset, line: position.line, columns, counts: { ...counts }, done, updatedAt: Date.now() };
      const records = [
        { topic: topology.topics.raw.name, messages: chunk.raw },
        { topic: topology.topics.dlq.name, messages: chunk.dlq },
      ];
      chunk = newChunk();
      // One transaction at a time; the next chunk fills while this one commits.
      await inflight;
      inflight = session.commit(records, checkpoint).then(() => {
        report.counts = checkpoint.counts;
        options.onProgress?.({ offset: checkpoint.offset, size: source.size, line: checkpoint.line, counts: checkpoint.counts });
      });
      inflight.catch(() => undefined);
    };

    const deadLetter = async (line: number, errorClass: string, message: string, raw: string): Promise<void> => {
      if (counts.bad >= settings.maxBadRows) {
        // A file this broken is the wrong file or the wrong mapping: stop before this row (the
        // checkpoint stays before it, so it is not counted as read), keeping what was committed.
        counts.read--;
        throw PermitflowError.permanent(
          'PF_IMPORT_TOO_MANY_BAD_ROWS',
          `${source.name}:${line}: more than ${settings.maxBadRows} bad rows (IMPORT_MAX_BAD_ROWS); the import stops here, the rows before this line are committed: check the file and the mapping`,
          { context: { line } },
        );
      }
      counts.bad++;
      if (report.badRows.length < BAD_ROWS_IN_REPORT) report.badRows.push({ line, errorClass, message });
      const now = Date.now();
      const value = Buffer.from(raw, 'utf8').subarray(0, DEAD_LETTER_VALUE_LIMIT);
      const letter = buildDeadLetter(
        { stage: 'importer', consumerGroup: topology.group('file-drop'), workerId: settings.workerId },
        // A file, not a topic: the file name, no partition, the line number.
        {
          topic: source.name,
          partition: -1,
          offset: line,
          timestamp: Math.trunc(source.mtimeMs),
          key: null,
          value,
          headers: { file: source.name, line: String(line), fileSha256: source.sha256, mapping: mapping.name, ...(value.length < raw.length && { truncated: 'true' }) },
        },
        { errorClass, errorMessage: `${source.name}:${line}: ${message}`, errorChain: [`${errorClass}: ${message}`] },
        now,
      );
      const encoded = await serde.encode(topology.topics.dlq, letter);
      chunk.dlq.push({ key: sha256Hex(raw), value: encoded });
      chunk.bytes += encoded.length;
    };

    try {
      for await (const item of items) {
        if (item.kind === 'header') {
          const missing = mapper.columns.filter((c) => !item.columns.includes(c));
          if (missing.length > 0) {
            throw PermitflowError.permanent('PF_IMPORT_MISSING_COLUMNS', `${source.name}:${item.line}: the header lacks column(s) ${missing.map((c) => `'${c}'`).join(', ')} that mapping ${mapping.name} reads`, { context: { line: item.line } });
          }
          columns = item.columns;
        } else if (item.kind === 'bad') {
          counts.read++;
          await deadLetter(item.line, item.errorClass, `record ${item.message}`, item.raw);
        } else {
          counts.read++;
          const outcome = mapper.map(item.cells);
          let envelope: SubmissionEnvelope | null = null;
          if (outcome.ok) {
            const payload = canonicalPayload(outcome.application);
            try {
              envelope = {
                submissionHash: payload.hash,
                source: 'file-drop',
                sourceClient: mapping.name,
                sourceReference: outcome.reference ?? `${source.name}:${item.line}`,
                receivedAt: Date.now(),
                payload: await storePayload(deps.objectStore, payload, settings.inlineLimitBytes),
                attachments: [],
                traceparent: continueOrStart(undefined),
              };
            } catch (err) {
              if (!(err instanceof PermitflowError) || err.retriable) throw err;
              await deadLetter(item.line, err.code, err.message, item.raw);
            }
            if (envelope) {
              const value = await serde.encode(topology.topics.raw, envelope);
              chunk.raw.push({ key: envelope.submissionHash, value, headers: { traceparent: envelope.traceparent! } });
              chunk.bytes += value.length;
              counts.produced++;
              deps.logger.debug({ submissionHash: envelope.submissionHash, line: item.line }, 'row produced');
              if (fingerprints.seen(payload.hash)) counts.duplicates++;
              if (outcome.formulaColumns.length > 0) counts.flagged++;
            }
          } else {
            await deadLetter(item.line, outcome.errorClass, outcome.message, item.raw);
          }
        }
        if (item.kind !== 'header') chunk.rows++;
        position = item.next;
        if (chunk.rows >= settings.chunkRows || chunk.bytes >= settings.chunkBytes) await flush(false);
        if (options.signal?.aborted) break;
      }
    } catch (err) {
      // Unreadable from here on: the rows read before this point are good, keep them, and let a
      // commit still in flight finish before the session closes (its counts are the report's).
      if (isInputProblem(err)) {
        if (chunk.rows > 0) await flush(false);
        await inflight;
      }
      throw err;
    }
    if (fingerprints.saturated) report.duplicatesCountedUpTo = settings.duplicateTrackingRows;
    const interrupted = options.signal?.aborted ?? false;
    await flush(!interrupted);
    await inflight;
    report.status = interrupted ? 'interrupted' : 'completed';
  } finally {
    await session.close().catch(() => undefined);
  }
}

/** Imports `path` with `mapping`; see the module comment for the outcomes. */
export async function importFile(path: string, mapping: Mapping, deps: ImportDeps, options: ImportOptions = {}): Promise<ImportReport> {
  const started = Date.now();
  const report: ImportReport = {
    status: 'failed',
    path,
    file: { name: sanitizeName(basename(path)), sha256: null, size: null, encoding: null, encodingReason: null, bom: false },
    mapping: { name: mapping.name, file: mapping.file },
    importId: null,
    resumedFrom: null,
    counts: emptyCounts(),
    duplicatesCountedUpTo: null,
    badRows: [],
    error: null,
    startedAt: new Date(started).toISOString(),
    finishedAt: '',
    elapsedMs: 0,
    rowsPerSecond: 0,
  };
  let source: SourceFile | undefined;
  try {
    source = await openSource(path, mapping.encoding);
    report.file = { name: source.name, sha256: source.sha256, size: source.size, encoding: source.encoding, encodingReason: source.encodingReason, bom: source.bom };
    report.importId = sha256Hex(`${source.sha256}:${mapping.digest}`);
    const mapper = compileMapping(mapping);
    // Anything but a programmer error or a permanent verdict is worth a restart from the checkpoint.
    const transient = (err: unknown) => (err instanceof PermitflowError ? err.retriable : classify(err) !== 'fatal');
    await withRetries(
      async (attempt) => {
        // A retry restarts from what the checkpoint says was committed, counts included.
        if (attempt > 1) report.badRows = [];
        await run(source!, mapping, mapper, deps, options, report);
      },
      {
        retries: deps.settings.retries,
        retriable: transient,
        ...(options.signal && { signal: options.signal }),
        onRetry: (err, attempt, delayMs) => deps.logger.warn({ file: source!.name, attempt, delayMs, err }, 'import failed; resuming from the checkpoint'),
      },
    );
  } catch (err) {
    if (!isInputProblem(err)) throw err;
    report.status = 'failed';
    const line = typeof err.context.line === 'number' ? err.context.line : null;
    report.error = { code: err.code, message: err.message, line };
  } finally {
    await source?.handle.close().catch(() => undefined);
    const finished = Date.now();
    report.finishedAt = new Date(finished).toISOString();
    report.elapsedMs = finished - started;
    const readNow = report.counts.read - (report.resumedFrom?.read ?? 0);
    report.rowsPerSecond = report.elapsedMs > 0 ? Math.round((readNow * 1000) / report.elapsedMs) : 0;
  }
  return report;
}
