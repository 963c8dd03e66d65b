/**
 * The Socrata Open Data API (SODA 2.x), the way many cities publish permit and inspection
 * records: `GET /resource/<dataset-id>.json` with SoQL parameters. Rows come back as JSON
 * objects whose values are strings (numbers included), so readers convert what they use.
 */
import { z } from 'zod';
import { badResponse, endpointOf } from './http/errors.ts';
import type { JsonReply, ResilientClient } from './http/client.ts';
import { shapeCheck } from './http/shape-check.ts';

export interface SodaQuery {
  /** SoQL `$where`. */
  where?: string;
  /** SoQL `$order`, e.g. `issued_date DESC`. */
  order?: string;
  limit?: number;
  select?: string;
}

export type SodaRow = Record<string, unknown>;

/** A SoQL string literal. */
export function soqlString(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

export function sodaQueryUrl(resourceUrl: string, query: SodaQuery): URL {
  const url = new URL(resourceUrl);
  // Built apart and set once: each url.searchParams.set writes the whole query back into the URL.
  const params = new URLSearchParams(url.search);
  if (query.select !== undefined) params.set('$select', query.select);
  if (query.where !== undefined) params.set('$where', query.where);
  if (query.order !== undefined) params.set('$order', query.order);
  if (query.limit !== undefined) params.set('$limit', String(query.limit));
  url.search = params.toString();
  return url;
}

const checkRows = shapeCheck(z.array(z.record(z.unknown())));

export interface RowsAnswer extends Omit<JsonReply, 'body'> {
  rows: SodaRow[];
  endpoint: string;
}

export async function queryRows(client: ResilientClient, resourceUrl: string, query: SodaQuery, signal?: AbortSignal): Promise<RowsAnswer> {
  const url = sodaQueryUrl(resourceUrl, query);
  const reply = await client.getJson(url, { signal });
  const parsed = checkRows(reply.body);
  if (!parsed.success) throw badResponse({ api: client.api, url }, 'not a SODA row array');
  return { ...reply, rows: parsed.data, endpoint: endpointOf(url) };
}

/** Text of a SODA value, or null. */
export function sodaText(row: SodaRow, field: string): string | null {
  const value = row[field];
  return typeof value === 'string' && value !== '' ? value : null;
}

/** Number of a SODA value (sent as a string), or null. */
export function sodaNumber(row: SodaRow, field: string): number | null {
  const text = sodaText(row, field);
  const value = text === null ? NaN : Number(text);
  return Number.isFinite(value) ? value : null;
}
