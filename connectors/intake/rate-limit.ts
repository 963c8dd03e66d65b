/**
 * Per-client rate limits shared by every intake instance through Redis (rate-limiter-flexible,
 * fixed one-second windows). If Redis is unreachable each instance falls back to an in-memory
 * limit of the same size: a Redis outage must not turn into refused submissions.
 */
import type { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';

export type RateDecision = { allowed: true } | { allowed: false; retryAfterMs: number };

export interface ClientRateLimiter {
  /** Takes one request from the client's budget of `perSecond`. */
  consume(client: string, perSecond: number): Promise<RateDecision>;
}

export function redisRateLimiter(redis: Redis, options: { prefix: string }): ClientRateLimiter {
  // One limiter per distinct budget (keys may override the default), created on first use.
  const limiters = new Map<number, RateLimiterRedis>();
  const limiterFor = (points: number): RateLimiterRedis => {
    let limiter = limiters.get(points);
    if (!limiter) {
      limiter = new RateLimiterRedis({
        storeClient: redis,
        keyPrefix: `${options.prefix}:${points}`,
        points,
        duration: 1,
        // Once a client is over budget, answer from memory for the rest of the window: no Redis call.
        inMemoryBlockOnConsumed: points,
        rejectIfRedisNotReady: true,
        insuranceLimiter: new RateLimiterMemory({ points, duration: 1 }),
      });
      limiters.set(points, limiter);
    }
    return limiter;
  };
  return {
    async consume(client, perSecond) {
      try {
        await limiterFor(perSecond).consume(client);
        return { allowed: true };
      } catch (err) {
        if (err instanceof RateLimiterRes) return { allowed: false, retryAfterMs: err.msBeforeNext };
        throw err;
      }
    },
  };
}
