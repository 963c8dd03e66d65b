/**
 * One rate limit per API, shared by every enricher instance through Redis, as a GCRA schedule
 * (the algorithm of redis-cell and most API gateways): each request atomically reserves the
 * next free send slot, spaced 1000/limit ms from the previous one, and waits for it instead of
 * failing, unless the slot is past the request's deadline (then nothing is reserved).
 *
 * Why not a fixed-window counter (rate-limiter-flexible's RateLimiterRedis): its one-second
 * windows let up to twice the limit through across a window edge, and an API measuring any
 * sliding second would see that. Spacing keeps every sliding second at or under the limit,
 * and reservations serve waiters in order without polling Redis.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { PermitflowError } from '../../../lib/errors.ts';
import { rateLimitedPastDeadline, type RequestTarget } from './errors.ts';

export interface SharedRateLimitOptions {
  redis: Redis;
  /** Prefix of the Redis keys (one key per API). */
  keyPrefix: string;
  requestsPerSecond: number;
}

export interface SharedRateLimit {
  /** Resolves when `target.api` may send one request; rejects if that is after `deadline`. */
  acquire(target: RequestTarget, deadline: number, signal: AbortSignal): Promise<void>;
}

/**
 * KEYS[1] the API's next free slot (ms, Redis clock); ARGV[1] spacing in ms; ARGV[2] the most
 * the caller will wait. Returns {reserved 0|1, ms until the slot}.
 */
const RESERVE_SLOT = `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local spacing = tonumber(ARGV[1])
local slot = tonumber(redis.call('GET', KEYS[1]) or now)
if slot < now then slot = now end
local wait = slot - now
if wait > tonumber(ARGV[2]) then return {0, wait} end
redis.call('SET', KEYS[1], slot + spacing, 'PX', wait + spacing + 1000)
return {1, wait}
`;

const COMMAND = 'permitflowReserveRateSlot';
type WithReserve = Redis & { [COMMAND](key: string, spacingMs: number, maxWaitMs: number): Promise<[number, number]> };

export function createSharedRateLimit(options: SharedRateLimitOptions): SharedRateLimit {
  const redis = options.redis as WithReserve;
  if (typeof redis[COMMAND] !== 'function') redis.defineCommand(COMMAND, { numberOfKeys: 1, lua: RESERVE_SLOT });
  // Whole milliseconds, rounded up so the rate never exceeds the limit.
  const spacingMs = Math.max(1, Math.ceil(1000 / options.requestsPerSecond));
  return {
    async acquire(target, deadline, signal) {
      signal.throwIfAborted();
      let reservation: [number, number];
      try {
        reservation = await redis[COMMAND](`${options.keyPrefix}ratelimit:${target.api}`, spacingMs, Math.max(0, deadline - Date.now()));
      } catch (err) {
        throw PermitflowError.retriable('PF_LOOKUP_RATE_LIMIT_UNAVAILABLE', `${target.api} API rate limit cannot be checked: Redis failed`, { cause: err, context: { api: target.api } });
      }
      const [reserved, waitMs] = reservation;
      if (!reserved) throw rateLimitedPastDeadline(target, waitMs);
      if (waitMs > 0) await sleep(waitMs, undefined, { signal });
    },
  };
}
