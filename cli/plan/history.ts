/**
 * Arrival history for `permitflow plan`: submissions per hour, per day and per source, either
 * from a legacy export's filed dates (read through its mapping's `appliedAt` rule, so an office
 * can plan before it goes live) or from the read model's `submissions.received_at`.
 *
 * Days and hours are local to the office's zone (the mapping's `appliedAt` zone, or the one
 * given): the weekly rhythm of a permit counter is a local-time rhythm.
 */
import { DateTime } from 'luxon';
import type pg from 'pg';
import { PermitflowError } from '../../lib/errors.ts';
import type { Mapping } from '../../connectors/file-drop/mapping.ts';
import { readCsv, readJsonl, type SourceItem } from '../../connectors/file-drop/records.ts';
import { openSource } from '../../connectors/file-drop/source.ts';
import { quoteIdent } from '../../connectors/read-model/migrate.ts';

export interface ArrivalHistory {
  /** Where the arrivals were read: an export file or the read model. */
  origin: string;
  zone: string;
  /** ISO dates (local), one per day from the first arrival to the last, gaps as zero. */
  days: string[];
  /** Arrivals per day, aligned with `days`. */
  daily: number[];
  /** Arrivals per local hour of the day (0-23), over the whole history. */
  byHour: number[];
  /** Each day's busiest hour, aligned with `days` (0 when the history has no times). */
  peakHourly: number[];
  /** Arrivals per source (intake, file drop, a mapping name...). */
  bySource: Record<string, number>;
  /** Whether arrivals carry a time of day (a date-only export does not). */
  hasTimes: boolean;
  /** Rows whose date could not be read (counted, not fatal: the rest is still a history). */
  unreadable: number;
}

export interface HistoryWindow {
  /** First local day kept (ISO date), inclusive. */
  since?: string;
  /** Last local day kept (ISO date), inclusive. */
  until?: string;
}

interface Arrival {
  at: DateTime;
  source: string;
  timed: boolean;
}

/** Buckets arrivals into local days and hours. */
export function bucketArrivals(arrivals: Iterable<Arrival>, zone: string, origin: string, window: HistoryWindow = {}, unreadable = 0): ArrivalHistory {
  const perDay = new Map<string, number>();
  const perDayHour = new Map<string, number>();
  const byHour = new Array<number>(24).fill(0);
  const bySource: Record<string, number> = {};
  let hasTimes = false;
  for (const { at, source, timed } of arrivals) {
    const local = at.setZone(zone);
    const day = local.toISODate()!;
    if ((window.since && day < window.since) || (window.until && day > window.until)) continue;
    perDay.set(day, (perDay.get(day) ?? 0) + 1);
    bySource[source] = (bySource[source] ?? 0) + 1;
    if (timed) {
      hasTimes = true;
      byHour[local.hour]! += 1;
      const key = `${day}T${local.hour}`;
      perDayHour.set(key, (perDayHour.get(key) ?? 0) + 1);
    }
  }
  if (perDay.size === 0) {
    throw PermitflowError.permanent('PF_PLAN_NO_HISTORY', `${origin}: no arrivals${window.since || window.until ? ` between ${window.since ?? 'the start'} and ${window.until ?? 'the end'}` : ''}`);
  }
  const sorted = [...perDay.keys()].sort();
  // A window's last day counts even when nothing arrived on it (an office closed for the holidays).
  const last = window.until ?? sorted.at(-1)!;
  const days: string[] = [];
  for (let d = DateTime.fromISO(sorted[0]!, { zone }); d.toISODate()! <= last; d = d.plus({ days: 1 })) days.push(d.toISODate()!);
  const peakOf = new Map<string, number>();
  for (const [key, n] of perDayHour) {
    const day = key.slice(0, 10);
    peakOf.set(day, Math.max(peakOf.get(day) ?? 0, n));
  }
  return {
    origin,
    zone,
    days,
    daily: days.map((d) => perDay.get(d) ?? 0),
    byHour,
    peakHourly: days.map((d) => peakOf.get(d) ?? 0),
    bySource,
    hasTimes,
    unreadable,
  };
}

/**
 * Reads an export's filed dates through `mapping`'s `appliedAt` rule (its column or columns, its
 * luxon formats and zone). Only that column is read: a row the importer would refuse for another
 * field still arrived at the office.
 */
export async function historyFromExport(file: string, mapping: Mapping, window: HistoryWindow = {}): Promise<ArrivalHistory> {
  const rule = mapping.targets.get('appliedAt');
  if (!rule || rule.column === undefined) {
    throw PermitflowError.permanent('PF_PLAN_NO_FILED_DATE', `${mapping.file}: maps no column to appliedAt, so an export's filed dates cannot be read through it`);
  }
  const columns = Array.isArray(rule.column) ? rule.column : [rule.column];
  const zone = rule.zone ?? 'UTC';
  const parsers = (rule.formats ?? []).map((f) => ({ parser: DateTime.buildFormatParser(f), timed: /[Hhms]/.test(f) }));
  const nulls = new Set(mapping.nulls);
  const parse = (text: string): { at: DateTime; timed: boolean } | null => {
    for (const { parser, timed } of parsers) {
      const at = DateTime.fromFormatParser(text, parser, { zone });
      if (at.isValid) return { at, timed };
    }
    if (parsers.length > 0) return null;
    const at = DateTime.fromISO(text, { zone });
    return at.isValid ? { at, timed: text.includes('T') } : null;
  };

  const source = await openSource(file, mapping.encoding);
  const arrivals: Arrival[] = [];
  let unreadable = 0;
  try {
    const from = { offset: 0, line: 0 };
    const items: AsyncGenerator<SourceItem> =
      mapping.format === 'csv'
        ? readCsv(source, { from, maxRecordBytes: 1024 * 1024, delimiter: mapping.csv.delimiter, quote: mapping.csv.quote, columns: mapping.csv.columns ?? null })
        : readJsonl(source, { from, maxRecordBytes: 1024 * 1024 });
    for await (const item of items) {
      if (item.kind === 'header') {
        if (!columns.some((c) => item.columns.includes(c))) {
          throw PermitflowError.permanent('PF_PLAN_NO_FILED_DATE', `${file}: has no column ${columns.join(' or ')} (the filed date of mapping ${mapping.name})`);
        }
        continue;
      }
      if (item.kind === 'bad') {
        unreadable++;
        continue;
      }
      const text = columns.map((c) => item.cells(c)?.trim() ?? '').find((v) => v !== '' && !nulls.has(v));
      const parsed = text === undefined ? null : parse(text);
      if (parsed) arrivals.push({ ...parsed, source: mapping.name });
      else unreadable++;
    }
  } finally {
    await source.handle.close();
  }
  return bucketArrivals(arrivals, zone, file, window, unreadable);
}

/** Arrivals recorded by the read model: when each submission was received, and from where. */
export async function historyFromReadModel(pool: pg.Pool, schema: string, zone: string, window: HistoryWindow = {}): Promise<ArrivalHistory> {
  const table = `${quoteIdent(schema)}.submissions`;
  // Counted per second in SQL so a million submissions do not cross the wire one by one.
  const { rows } = await pool.query<{ at: Date; source: string; n: string }>(
    `SELECT date_trunc('second', received_at) AS at, coalesce(source, source_client, 'unknown') AS source, count(*) AS n
       FROM ${table} WHERE received_at IS NOT NULL GROUP BY 1, 2`,
  );
  function* arrivals(): Generator<Arrival> {
    for (const row of rows) {
      const at = DateTime.fromJSDate(row.at);
      for (let i = 0; i < Number(row.n); i++) yield { at, source: row.source, timed: true };
    }
  }
  return bucketArrivals(arrivals(), zone, 'read model', window);
}
