/**
 * The resilient JSON-over-HTTP client every lookup API goes through. In order, a GET:
 *   1. is answered from the shared Redis cache when fresh (no request, no token);
 *   2. otherwise runs under in-process retries (full-jitter backoff, `Retry-After` honoured),
 *      each attempt: fail fast if the API's breaker is open → wait for a token of the API's
 *      shared rate limit → one request through the breaker on a keep-alive pool (undici),
 *      conditional (`If-None-Match`) when a stale cached copy has a validator;
 *   3. and stores what it got as the response headers allow.
 * Every attempt shares one deadline, and the caller's signal aborts all of it.
 */
import type { Redis } from 'ioredis';
import { Agent, request } from 'undici';
import type { Logger } from '../../../lib/logger.ts';
import type { BreakerListener, BreakerState, LookupApi } from '../../../domain/lookups.ts';
import { createApiBreaker, type BreakerOptions } from './breaker.ts';
import { badResponse, parseRetryAfter, statusError, transportError, type RequestTarget } from './errors.ts';
import { BREAKER_STATE_VALUE, lookupMetrics } from './metrics.ts';
import { createSharedRateLimit } from './rate-limit.ts';
import { createResponseCache, type CachedEntry, type CacheLookup, type Headers } from './response-cache.ts';
import { withRetries, type RetryOptions } from './retry.ts';

export interface TimeoutOptions {
  connectMs: number;
  /** Until the response headers arrive (a hung server hits this). */
  headersMs: number;
  /** Longest pause between two chunks of the body. */
  bodyMs: number;
  /** Budget of one GET: every attempt, backoff and rate-limit wait. */
  deadlineMs: number;
}

/** Throws a PermitflowError when a 2xx body carries a protocol-level error (ArcGIS does this). */
export type BodyCheck = (body: unknown, target: RequestTarget) => void;

export interface ResilientClientOptions {
  api: LookupApi;
  redis: Redis;
  /** Prefix of every Redis key (rate limits and cache). */
  keyPrefix: string;
  requestsPerSecond: number;
  timeouts: TimeoutOptions;
  retry: RetryOptions;
  cache: { defaultTtlMs: number; staleRetentionMs: number; memoryMaxBytes?: number };
  breaker: BreakerOptions;
  /** Keep-alive connections per origin. */
  maxConnections: number;
  /** Sent with every request, e.g. a Socrata app token. */
  headers?: Record<string, string>;
  /** A cheap GET that tells whether the API is back: the breaker's half-open probe. */
  probe: { url: URL; check?: BodyCheck };
  logger: Logger;
}

export interface JsonReply {
  /** Parsed JSON; a cached one is shared by every lookup the same entry answers: read it, never change it. */
  body: unknown;
  /** When the origin last sent or confirmed this body. */
  fetchedAt: number;
  /** The body came from the cache (fresh, or confirmed by a 304). */
  cacheHit: boolean;
  /** Requests this GET made: 0 when served fresh from the cache. */
  attempts: number;
}

export interface ResilientClient {
  readonly api: LookupApi;
  getJson(url: URL, options?: { signal?: AbortSignal; check?: BodyCheck }): Promise<JsonReply>;
  breakerState(): BreakerState;
  onBreakerChange(listener: BreakerListener): () => void;
  close(): Promise<void>;
}

interface Received {
  status: number;
  headers: Headers;
  /** Raw and parsed body of a 2xx; absent for a 304. */
  text?: string;
  json?: unknown;
}

const MAX_BODY_BYTES = 16 * 1024 * 1024;

export function createResilientClient(options: ResilientClientOptions): ResilientClient {
  const { api, logger } = options;
  const agent = new Agent({
    connections: options.maxConnections,
    keepAliveTimeout: 30_000,
    connect: { timeout: options.timeouts.connectMs },
    headersTimeout: options.timeouts.headersMs,
    bodyTimeout: options.timeouts.bodyMs,
    maxResponseSize: MAX_BODY_BYTES,
  });
  const closing = new AbortController();
  const rateLimit = createSharedRateLimit({ redis: options.redis, keyPrefix: options.keyPrefix, requestsPerSecond: options.requestsPerSecond });
  const cache = createResponseCache({ redis: options.redis, keyPrefix: options.keyPrefix, logger, ...options.cache });
  const baseHeaders: Headers = { accept: 'application/json', 'user-agent': 'permitflow-enricher', ...options.headers };

  const breaker = createApiBreaker(
    api,
    options.breaker,
    async () => {
      const target = { api, url: options.probe.url };
      const deadline = Date.now() + options.timeouts.deadlineMs;
      const signal = AbortSignal.any([closing.signal, AbortSignal.timeout(options.timeouts.deadlineMs)]);
      await rateLimit.acquire(target, deadline, signal);
      await send(target, baseHeaders, signal, options.probe.check);
    },
    logger,
  );
  lookupMetrics.breakerState.set({ api }, BREAKER_STATE_VALUE.closed);
  breaker.onChange(({ state }) => lookupMetrics.breakerState.set({ api }, BREAKER_STATE_VALUE[state]));

  async function send(target: RequestTarget, headers: Headers, signal: AbortSignal, check: BodyCheck | undefined): Promise<Received> {
    const end = lookupMetrics.requestSeconds.startTimer({ api });
    try {
      const received = await requestOnce(target, headers, signal, check);
      end({ outcome: received.status === 304 ? 'not_modified' : 'ok' });
      return received;
    } catch (err) {
      const classified = transportError(target, err, signal);
      end({ outcome: classified.code });
      throw classified;
    }
  }

  async function requestOnce(target: RequestTarget, headers: Headers, signal: AbortSignal, check: BodyCheck | undefined): Promise<Received> {
    try {
      const response = await request(target.url, { dispatcher: agent, method: 'GET', headers: withoutHost(headers), signal });
      const received = { status: response.statusCode, headers: response.headers };
      if (response.statusCode === 304) {
        await response.body.dump();
        return received;
      }
      if (response.statusCode < 200 || response.statusCode >= 300) {
        await response.body.dump();
        throw statusError(target, response.statusCode, parseRetryAfter(response.headers['retry-after']));
      }
      const text = await response.body.text();
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch (err) {
        throw badResponse(target, 'body is not JSON', err);
      }
      check?.(json, target);
      return { ...received, text, json };
    } catch (err) {
      throw transportError(target, err, signal);
    }
  }

  /** One request: waits for a rate-limit token, then goes through the breaker. */
  async function exchange(target: RequestTarget, headers: Headers, deadline: number, signal: AbortSignal, check: BodyCheck | undefined): Promise<Received> {
    breaker.throwIfOpen();
    await rateLimit.acquire(target, deadline, signal);
    return breaker.fire(() => send(target, headers, signal, check));
  }

  async function fetchAndCache(target: RequestTarget, cached: CacheLookup, deadline: number, signal: AbortSignal, check: BodyCheck | undefined): Promise<{ entry: CachedEntry; cacheHit: boolean; json?: unknown }> {
    const stale = cached.kind === 'stale' ? cached : undefined;
    const received = await exchange(target, stale?.revalidationHeaders ?? baseHeaders, deadline, signal, check);
    if (received.status === 304) {
      if (!stale) throw badResponse(target, '304 Not Modified to an unconditional request');
      const refreshed = await cache.revalidated(target, baseHeaders, stale.entry, received);
      if (refreshed) return { entry: refreshed, cacheHit: true };
      // The validator no longer matches what we hold: fetch it whole.
      return fetchAndCache(target, { kind: 'miss' }, deadline, signal, check);
    }
    const entry = await cache.store(target, baseHeaders, received, received.text ?? '');
    return { entry, cacheHit: false, json: received.json };
  }

  return {
    api,
    async getJson(url, { signal, check } = {}) {
      const target: RequestTarget = { api, url };
      const cached = await cache.lookup(target, baseHeaders);
      lookupMetrics.cache.inc({ api, result: cached.kind === 'fresh' ? 'hit' : cached.kind });
      if (cached.kind === 'fresh') return { body: (cached.entry.json ??= JSON.parse(cached.entry.body)), fetchedAt: cached.entry.fetchedAt, cacheHit: true, attempts: 0 };

      const deadline = Date.now() + options.timeouts.deadlineMs;
      const requestSignal = AbortSignal.any([closing.signal, AbortSignal.timeout(options.timeouts.deadlineMs), ...(signal ? [signal] : [])]);
      let attempts = 0;
      const result = await withRetries(options.retry, deadline, requestSignal, async (attempt) => {
        attempts = attempt;
        try {
          return await fetchAndCache(target, cached, deadline, requestSignal, check);
        } catch (err) {
          const classified = transportError(target, err, requestSignal);
          logger.debug({ attempt, code: classified.code }, 'lookup request failed');
          throw classified;
        }
      });
      return { body: result.json ?? JSON.parse(result.entry.body), fetchedAt: result.entry.fetchedAt, cacheHit: result.cacheHit, attempts };
    },
    breakerState: () => breaker.state(),
    onBreakerChange: (listener) => breaker.onChange(listener),
    async close() {
      closing.abort();
      breaker.shutdown();
      await agent.close();
    },
  };
}

function withoutHost(headers: Headers): Record<string, string | string[]> {
  const sendable: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) if (name !== 'host' && value !== undefined) sendable[name] = value;
  return sendable;
}
