/**
 * The lookups the enricher runs for one application, behind one interface.
 *
 * Contract for the caller (the enricher processor):
 * - `lookupAll` resolves with one LookupResult per lookup (parcel, zoning, overlays, fees,
 *   history). `not_found` and `outside_jurisdiction` are answers (findings for the validator),
 *   not errors.
 * - It rejects with a PermitflowError when a lookup could not be answered:
 *   `PF_BREAKER_OPEN` (retriable) when an API's breaker refused the request: pause the
 *   partitions until `onBreakerChange` reports `closed`, without spending a retry;
 *   `PF_LOOKUP_FAILED` with `retriable` true when a transient failure outlasted the in-process
 *   retries (route to the retry topics), false when retrying cannot help (dead-letter). Its
 *   cause chain holds the request's error (e.g. PF_LOOKUP_TIMEOUT, PF_LOOKUP_UNAVAILABLE).
 *   Anything else thrown is a bug (classify() makes it fatal).
 * - A breaker half-opens after its reset time and probes the API by itself; a good probe
 *   closes it. Events: `open`, `halfOpen`, `closed`, per API.
 *
 * The parcel comes first (its APN and centroid key the rest); zoning, overlays and history then
 * run concurrently; the fee comes from the local schedule.
 */
import { Redis } from 'ioredis';
import type { Config } from '../../lib/config.ts';
import { PermitflowError } from '../../lib/errors.ts';
import type { Logger } from '../../lib/logger.ts';
import type { EnrichmentLookups } from '../../domain/ports.ts';
import { arcgisProbeUrl, checkArcgisBody } from './arcgis.ts';
import type { LookupContext } from './context.ts';
import { loadFeeSchedule } from '../../domain/fee-schedule.ts';
import { lookupFees } from './fees.ts';
import { lookupHistory } from './history.ts';
import { createResilientClient, type ResilientClient, type ResilientClientOptions } from './http/client.ts';
import { LOOKUP_ERRORS } from './http/errors.ts';
import { lookupOverlays } from './overlays.ts';
import { lookupParcel } from './parcel.ts';
import { sodaQueryUrl } from './soda.ts';
import { LOOKUP_APIS, type BreakerState, type LookupApi, type LookupName } from '../../domain/lookups.ts';
import { lookupZoning } from './zoning.ts';

export type { EnrichmentLookups, LookupAllOptions } from '../../domain/ports.ts';

export interface EnrichmentLookupsDeps {
  logger: Logger;
  /** A shared connection; without one the lookups open (and close) their own from REDIS_URL. */
  redis?: Redis;
}

export async function createEnrichmentLookups(config: Config, deps: EnrichmentLookupsDeps): Promise<EnrichmentLookups> {
  const settings = config.lookups;
  const logger = deps.logger.child({ component: 'lookups' });
  const schedule = await loadFeeSchedule(settings.feeSchedulePath);
  // Auto-pipelining: the cache reads of a batch's concurrent lookups leave in one write, one round trip.
  const redis = deps.redis ?? new Redis(config.redis.url, { maxRetriesPerRequest: 2, enableAutoPipelining: true });
  if (!deps.redis) redis.on('error', (err: unknown) => logger.warn({ err }, 'lookups Redis connection failed'));

  const probes: Record<LookupApi, ResilientClientOptions['probe']> = {
    parcels: { url: arcgisProbeUrl(settings.endpoints.parcels), check: checkArcgisBody },
    zoning: { url: arcgisProbeUrl(settings.endpoints.zoning), check: checkArcgisBody },
    overlays: { url: arcgisProbeUrl(settings.endpoints.flood), check: checkArcgisBody },
    history: { url: sodaQueryUrl(settings.endpoints.permits, { limit: 1 }) },
  };
  const clientFor = (api: LookupApi): ResilientClient =>
    createResilientClient({
      api,
      redis,
      keyPrefix: settings.redisKeyPrefix,
      requestsPerSecond: settings.rateLimits[api],
      timeouts: settings.timeouts,
      retry: settings.retry,
      cache: settings.cache,
      breaker: settings.breaker,
      maxConnections: settings.maxConnections,
      ...(api === 'history' && settings.sodaAppToken !== undefined && { headers: { 'x-app-token': settings.sodaAppToken } }),
      probe: probes[api],
      logger: logger.child({ api }),
    });
  const clients = Object.fromEntries(LOOKUP_APIS.map((api) => [api, clientFor(api)])) as Record<LookupApi, ResilientClient>;
  const ctx: LookupContext = { clients, endpoints: settings.endpoints, jurisdiction: settings.jurisdiction };

  return {
    async lookupAll(application, { signal, at = Date.now() } = {}) {
      const parcel = await lookupParcel(ctx, application, signal).catch((error: unknown) => {
        throw lookupFailure([{ lookup: 'parcel', error }]);
      });
      const fees = lookupFees(schedule, application, parcel, at);
      const [zoning, overlays, history] = await Promise.allSettled([
        lookupZoning(ctx, application, parcel, signal),
        lookupOverlays(ctx, application, parcel, signal),
        lookupHistory(ctx, parcel, signal),
      ]);
      if (zoning.status === 'fulfilled' && overlays.status === 'fulfilled' && history.status === 'fulfilled') {
        return [parcel.result, zoning.value, overlays.value, fees, history.value];
      }
      const settled = { zoning, overlays, history };
      throw lookupFailure(Object.entries(settled).flatMap(([lookup, s]) => (s.status === 'rejected' ? [{ lookup: lookup as LookupName, error: s.reason as unknown }] : [])));
    },
    breakerStates: () => Object.fromEntries(LOOKUP_APIS.map((api) => [api, clients[api].breakerState()])) as Record<LookupApi, BreakerState>,
    onBreakerChange(listener) {
      const unsubscribes = LOOKUP_APIS.map((api) => clients[api].onBreakerChange(listener));
      return () => unsubscribes.forEach((unsubscribe) => unsubscribe());
    },
    async close() {
      await Promise.all(LOOKUP_APIS.map((api) => clients[api].close()));
      if (!deps.redis) await redis.quit().catch(() => redis.disconnect());
    },
  };
}

interface LookupFailure {
  lookup: LookupName;
  error: unknown;
}

/**
 * One error for the caller from the lookups that failed. A bug wins (rethrown as is), then a
 * permanent failure (retrying cannot help), then an open breaker (pause), then a transient one.
 */
function lookupFailure(failures: LookupFailure[]): unknown {
  const bug = failures.find((f) => !(f.error instanceof PermitflowError));
  if (bug) return bug.error;
  const known = failures as Array<{ lookup: LookupName; error: PermitflowError }>;
  const pick = known.find((f) => !f.error.retriable) ?? known.find((f) => f.error.code === LOOKUP_ERRORS.breakerOpen) ?? known[0]!;
  if (pick.error.code === LOOKUP_ERRORS.breakerOpen) return pick.error;
  const context = { ...pick.error.context, lookup: pick.lookup, failed: known.map((f) => ({ lookup: f.lookup, code: f.error.code })) };
  const message = `${pick.lookup} lookup failed: ${pick.error.message}`;
  return pick.error.retriable
    ? PermitflowError.retriable(LOOKUP_ERRORS.failed, message, { cause: pick.error, context })
    : PermitflowError.permanent(LOOKUP_ERRORS.failed, message, { cause: pick.error, context });
}
