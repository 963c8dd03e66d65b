/**
 * A Redis response cache shared by every enricher instance, with HTTP semantics from
 * http-cache-semantics (a shared cache: `private` and `no-store` answers are not kept,
 * `s-maxage` wins over `max-age`, `no-cache` means revalidate every time).
 *
 * A response that states no freshness of its own (no `max-age`, `s-maxage`, `Expires`,
 * `no-cache` or `no-store`) is fresh for the configured default TTL. An answer with a validator
 * (`ETag`, `Last-Modified`) is kept past its freshness for `staleRetentionMs`, so it can be
 * revalidated with a conditional request (`If-None-Match` → 304) instead of fetched again.
 *
 * In front of Redis, each process keeps a bounded LRU of the entries it read or wrote
 * (`memoryMaxBytes`, 0 to turn it off) and answers from it while the entry is fresh under the
 * same policy: no Redis round trip for a hot parcel or zoning answer. A memory entry that is no
 * longer fresh is never revalidated from memory: the lookup asks Redis, where another instance
 * may already have refreshed it.
 *
 * The cache is an optimisation: when Redis fails, lookups go to the API and a warning is logged.
 */
import { createHash } from 'node:crypto';
import CachePolicy from 'http-cache-semantics';
import type { Redis } from 'ioredis';
import { LRUCache } from 'lru-cache';
import type { Logger } from '../../../lib/logger.ts';
import type { RequestTarget } from './errors.ts';

export type Headers = CachePolicy.Headers;

export interface CachedEntry {
  policy: CachePolicy;
  /** The response body as received. */
  body: string;
  /** When the origin last sent or confirmed this body. */
  fetchedAt: number;
  /**
   * The body parsed, once per entry: an entry held in memory answers many lookups, which share
   * this value and only read it (never kept in Redis).
   */
  json?: unknown;
}

export type CacheLookup =
  | { kind: 'fresh'; entry: CachedEntry }
  | { kind: 'stale'; entry: CachedEntry; revalidationHeaders: Headers }
  | { kind: 'miss' };

export interface ResponseCacheOptions {
  redis: Redis;
  keyPrefix: string;
  defaultTtlMs: number;
  staleRetentionMs: number;
  /** Bound of the in-process LRU in front of Redis (bodies counted as UTF-16); 0 turns it off. */
  memoryMaxBytes?: number;
  logger: Logger;
}

/** What one memory entry costs beyond its body: the policy object and the map's own entry. */
const MEMORY_ENTRY_OVERHEAD_BYTES = 1024;

export interface ResponseCache {
  lookup(target: RequestTarget, requestHeaders: Headers): Promise<CacheLookup>;
  /** Keeps a 2xx answer if its headers allow; returns the entry either way. */
  store(target: RequestTarget, requestHeaders: Headers, response: { status: number; headers: Headers }, body: string): Promise<CachedEntry>;
  /** Applies a 304; returns the refreshed entry, or undefined if the cached body cannot be reused. */
  revalidated(target: RequestTarget, requestHeaders: Headers, entry: CachedEntry, response: { status: number; headers: Headers }): Promise<CachedEntry | undefined>;
}

/**
 * An entry in memory, with the request headers it was found fresh for. Each client sends one
 * headers object with all its requests; while the entry lives (its TTL is its freshness), the
 * same object again needs no new evaluation of the policy, which was a visible share of the
 * enricher's CPU on every cached lookup.
 */
interface MemoryEntry {
  entry: CachedEntry;
  freshFor: Headers;
}

interface StoredEntry {
  policy: CachePolicy.CachePolicyObject;
  body: string;
  fetchedAt: number;
}

const EXPLICIT_FRESHNESS = /(^|[\s,])(max-age|s-maxage|no-cache|no-store)\b/i;

/** The response headers as the cache should read them: with the default TTL if they state none. */
export function withDefaultFreshness(headers: Headers, defaultTtlMs: number): Headers {
  const cacheControl = [headers['cache-control'] ?? []].flat().join(', ');
  if (headers.expires !== undefined || EXPLICIT_FRESHNESS.test(cacheControl)) return headers;
  const maxAge = `max-age=${Math.floor(defaultTtlMs / 1000)}`;
  return { ...headers, 'cache-control': cacheControl ? `${cacheControl}, ${maxAge}` : maxAge };
}

const requestOf = (target: RequestTarget, headers: Headers): CachePolicy.HttpRequest => ({
  url: target.url.pathname + target.url.search,
  method: 'GET',
  headers: { ...headers, host: target.url.host },
});

export function createResponseCache(options: ResponseCacheOptions): ResponseCache {
  const { redis, logger } = options;
  // Hashed, so keys never hold the query (site addresses) in clear.
  const keyOf = (target: RequestTarget): string => `${options.keyPrefix}cache:${target.api}:${createHash('sha256').update(target.url.href).digest('hex')}`;
  const memoryMaxBytes = options.memoryMaxBytes ?? 0;
  const memory =
    memoryMaxBytes > 0 ? new LRUCache<string, MemoryEntry>({ maxSize: memoryMaxBytes, sizeCalculation: ({ entry }) => entry.body.length * 2 + MEMORY_ENTRY_OVERHEAD_BYTES }) : undefined;

  // In memory the URL itself is the key: hashing it for Redis on every hit was a visible share of the enricher.
  const memoryKeyOf = (target: RequestTarget): string => `${target.api} ${target.url.href}`;

  /**
   * Keeps `entry` in memory while it is fresh (a stale one is only useful from Redis), for
   * requests with `requestHeaders`. Headers with cache directives of their own (`max-age`,
   * `no-cache`: freshness that is not only the response's) are never answered from memory.
   */
  function remember(target: RequestTarget, requestHeaders: Headers, entry: CachedEntry): void {
    if (!memory || requestHeaders['cache-control'] !== undefined || requestHeaders.pragma !== undefined) return;
    const freshMs = entry.policy.timeToLive();
    if (!entry.policy.storable() || freshMs <= 0 || entry.body.length * 2 + MEMORY_ENTRY_OVERHEAD_BYTES > memoryMaxBytes) return;
    if (!entry.policy.satisfiesWithoutRevalidation(requestOf(target, requestHeaders))) return;
    memory.set(memoryKeyOf(target), { entry, freshFor: requestHeaders }, { ttl: freshMs });
  }

  async function save(target: RequestTarget, requestHeaders: Headers, entry: CachedEntry): Promise<void> {
    const { resh: responseHeaders } = entry.policy.toObject();
    const hasValidator = responseHeaders.etag !== undefined || responseHeaders['last-modified'] !== undefined;
    const keepMs = Math.max(0, entry.policy.timeToLive()) + (hasValidator ? options.staleRetentionMs : 0);
    if (!entry.policy.storable() || keepMs <= 0) return;
    remember(target, requestHeaders, entry);
    const stored: StoredEntry = { policy: entry.policy.toObject(), body: entry.body, fetchedAt: entry.fetchedAt };
    try {
      await redis.set(keyOf(target), JSON.stringify(stored), 'PX', keepMs);
    } catch (err) {
      logger.warn({ err, api: target.api }, 'lookup cache write failed; continuing uncached');
    }
  }

  return {
    async lookup(target, requestHeaders) {
      // Within its TTL a memory entry is fresh for the headers it was remembered with.
      const inMemory = memory?.get(memoryKeyOf(target));
      if (inMemory?.freshFor === requestHeaders) return { kind: 'fresh', entry: inMemory.entry };
      const request = requestOf(target, requestHeaders);
      let text: string | null;
      try {
        text = await redis.get(keyOf(target));
      } catch (err) {
        logger.warn({ err, api: target.api }, 'lookup cache read failed; asking the API');
        return { kind: 'miss' };
      }
      if (text === null) return { kind: 'miss' };
      let entry: CachedEntry;
      try {
        const stored = JSON.parse(text) as StoredEntry;
        entry = { policy: CachePolicy.fromObject(stored.policy), body: stored.body, fetchedAt: stored.fetchedAt };
      } catch (err) {
        logger.warn({ err, api: target.api }, 'unreadable lookup cache entry; asking the API');
        return { kind: 'miss' };
      }
      if (entry.policy.satisfiesWithoutRevalidation(request)) {
        remember(target, requestHeaders, entry);
        return { kind: 'fresh', entry };
      }
      return { kind: 'stale', entry, revalidationHeaders: entry.policy.revalidationHeaders(request) };
    },

    async store(target, requestHeaders, response, body) {
      const policy = new CachePolicy(requestOf(target, requestHeaders), { status: response.status, headers: withDefaultFreshness(response.headers, options.defaultTtlMs) });
      const entry: CachedEntry = { policy, body, fetchedAt: Date.now() };
      await save(target, requestHeaders, entry);
      return entry;
    },

    async revalidated(target, requestHeaders, entry, response) {
      const revalidation = entry.policy.revalidatedPolicy(requestOf(target, requestHeaders), {
        status: response.status,
        headers: withDefaultFreshness(response.headers, options.defaultTtlMs),
      });
      if (revalidation.modified) return undefined;
      const refreshed: CachedEntry = { policy: revalidation.policy, body: entry.body, fetchedAt: Date.now() };
      await save(target, requestHeaders, refreshed);
      return refreshed;
    },
  };
}
