/**
 * The ArcGIS REST `query` operation of a FeatureServer or MapServer layer, the common way
 * counties publish GIS layers. Builds the query URL (attribute `where` or a point intersect in
 * WGS84) and reads the JSON answer. ArcGIS reports many errors as HTTP 200 with an `error`
 * object: a 5xx code there is the server failing (retried), anything else is a refused query.
 */
import { z } from 'zod';
import { PermitflowError } from '../../lib/errors.ts';
import { badResponse, endpointOf, LOOKUP_ERRORS, type RequestTarget } from './http/errors.ts';
import type { JsonReply, ResilientClient } from './http/client.ts';
import { shapeCheck } from './http/shape-check.ts';
import type { LatLon } from '../../domain/lookups.ts';

export interface ArcgisQuery {
  /** SQL-92 where clause; `1=1` when only the geometry filters. */
  where?: string;
  outFields?: readonly string[];
  /** Features intersecting this point. */
  point?: LatLon;
  returnCentroid?: boolean;
  returnCountOnly?: boolean;
  resultRecordCount?: number;
}

export interface ArcgisFeature {
  attributes: Record<string, unknown>;
  centroid?: { x: number; y: number };
}

const WGS84 = '4326';

/** A string literal for a where clause. */
export function sqlString(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

export function arcgisQueryUrl(layerUrl: string, query: ArcgisQuery): URL {
  const url = new URL(`${layerUrl.replace(/\/+$/, '')}/query`);
  // Built apart and set once: each url.searchParams.set writes the whole query back into the URL.
  const params = new URLSearchParams();
  params.set('f', 'json');
  params.set('where', query.where ?? '1=1');
  params.set('outFields', query.outFields?.join(',') ?? '*');
  params.set('returnGeometry', 'false');
  if (query.point) {
    params.set('geometry', `${query.point.lon},${query.point.lat}`);
    params.set('geometryType', 'esriGeometryPoint');
    params.set('spatialRel', 'esriSpatialRelIntersects');
    params.set('inSR', WGS84);
  }
  if (query.returnCentroid) {
    params.set('returnCentroid', 'true');
    params.set('outSR', WGS84);
  }
  if (query.returnCountOnly) params.set('returnCountOnly', 'true');
  if (query.resultRecordCount !== undefined) params.set('resultRecordCount', String(query.resultRecordCount));
  url.search = params.toString();
  return url;
}

/**
 * What a half-open probe asks for: a count of no rows (`where=1=0`). It is as cheap as the
 * layer description but goes down the same query path as real lookups, so a layer whose
 * description still answers while its queries fail keeps the breaker open.
 */
export function arcgisProbeUrl(layerUrl: string): URL {
  return arcgisQueryUrl(layerUrl, { where: '1=0', returnCountOnly: true });
}

const errorBody = z.object({ error: z.object({ code: z.number(), message: z.string().optional(), details: z.array(z.string()).optional() }) });

/**
 * Turns an ArcGIS `error` object inside a 2xx into the error it stands for. Its message and
 * details are left out: servers echo the where clause there, and with it the site address.
 */
export function checkArcgisBody(body: unknown, target: RequestTarget): void {
  const parsed = errorBody.safeParse(body);
  if (!parsed.success) return;
  const { code } = parsed.data.error;
  const text = `${target.api} ArcGIS layer reported error ${code} (${endpointOf(target.url)})`;
  const context = { api: target.api, endpoint: endpointOf(target.url), arcgisCode: code };
  if (code >= 500) throw PermitflowError.retriable(LOOKUP_ERRORS.unavailable, text, { context });
  throw PermitflowError.permanent(LOOKUP_ERRORS.rejected, text, { context });
}

const featureSet = z.object({
  features: z.array(
    z.object({
      attributes: z.record(z.unknown()),
      centroid: z.object({ x: z.number(), y: z.number() }).optional(),
    }),
  ),
});
const countAnswer = z.object({ count: z.number().int().nonnegative() });

const checkFeatureSet = shapeCheck(featureSet);
const checkCountAnswer = shapeCheck(countAnswer);

function parse<T>(check: (body: unknown) => z.SafeParseReturnType<unknown, T>, body: unknown, target: RequestTarget): T {
  const parsed = check(body);
  if (parsed.success) return parsed.data;
  // The issue's code and path, not its message: zod quotes the values it refuses.
  const issue = parsed.error.issues[0];
  throw badResponse(target, `not an ArcGIS query answer (${issue ? `${issue.code} at ${issue.path.join('.') || '<body>'}` : 'unexpected shape'})`);
}

export interface FeatureAnswer extends Omit<JsonReply, 'body'> {
  features: ArcgisFeature[];
  endpoint: string;
}

export interface CountAnswer extends Omit<JsonReply, 'body'> {
  count: number;
  endpoint: string;
}

/** Runs a query and returns its features. */
export async function queryFeatures(client: ResilientClient, layerUrl: string, query: ArcgisQuery, signal?: AbortSignal): Promise<FeatureAnswer> {
  const url = arcgisQueryUrl(layerUrl, query);
  const reply = await client.getJson(url, { signal, check: checkArcgisBody });
  const { features } = parse(checkFeatureSet, reply.body, { api: client.api, url });
  return { ...reply, features, endpoint: endpointOf(url) };
}

/** Runs a `returnCountOnly` query. */
export async function countFeatures(client: ResilientClient, layerUrl: string, query: ArcgisQuery, signal?: AbortSignal): Promise<CountAnswer> {
  const url = arcgisQueryUrl(layerUrl, { ...query, returnCountOnly: true });
  const reply = await client.getJson(url, { signal, check: checkArcgisBody });
  return { ...reply, count: parse(checkCountAnswer, reply.body, { api: client.api, url }).count, endpoint: endpointOf(url) };
}
