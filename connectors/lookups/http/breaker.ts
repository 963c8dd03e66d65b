/**
 * A circuit breaker per API (opossum). Only failures that say the API is unhealthy count
 * (timeouts, network errors, 5xx); a 429 or a refused query does not.
 *
 * When the breaker half-opens it sends a probe of its own, so a caller that paused on `open`
 * can simply wait for `closed`: a successful probe closes the breaker, a failed one opens it
 * again for another reset period.
 */
import CircuitBreaker from 'opossum';
import type { Logger } from '../../../lib/logger.ts';
import type { BreakerListener, BreakerState, LookupApi } from '../../../domain/lookups.ts';
import { breakerOpen, indicatesUnhealthyApi } from './errors.ts';

export interface BreakerOptions {
  /** Failure percentage within the window above which the breaker opens. */
  errorThresholdPercent: number;
  /** Requests within the window before the percentage counts. */
  volumeThreshold: number;
  /** Length of the rolling statistics window. */
  windowMs: number;
  /** Time open before the half-open probe. */
  resetMs: number;
}

export interface ApiBreaker {
  /** Runs one request through the breaker; rejects with PF_BREAKER_OPEN while it is open. */
  fire<T>(request: () => Promise<T>): Promise<T>;
  /** Fails fast (PF_BREAKER_OPEN) when a request would be refused, before spending a rate-limit token. */
  throwIfOpen(): void;
  state(): BreakerState;
  onChange(listener: BreakerListener): () => void;
  shutdown(): void;
}

export function createApiBreaker(api: LookupApi, options: BreakerOptions, probe: () => Promise<unknown>, logger: Logger): ApiBreaker {
  const breaker = new CircuitBreaker((request: () => Promise<unknown>) => request(), {
    name: api,
    timeout: false, // the HTTP client has its own timeouts and deadline
    errorThresholdPercentage: options.errorThresholdPercent,
    volumeThreshold: options.volumeThreshold,
    rollingCountTimeout: options.windowMs,
    resetTimeout: options.resetMs,
    enableSnapshots: false,
    errorFilter: (err: unknown) => !indicatesUnhealthyApi(err),
  });
  const listeners = new Set<BreakerListener>();
  const state = (): BreakerState => (breaker.closed ? 'closed' : breaker.halfOpen ? 'halfOpen' : 'open');
  const announce = (next: BreakerState) => () => {
    logger.warn({ breaker: next }, `${api} API circuit breaker ${next}`);
    for (const listener of listeners) listener({ api, state: next, at: Date.now() });
  };
  breaker.on('open', announce('open'));
  breaker.on('close', announce('closed'));
  breaker.on('halfOpen', announce('halfOpen'));
  breaker.on('halfOpen', () => {
    breaker.fire(probe).catch((err: unknown) => logger.warn({ err }, `${api} API half-open probe failed`));
  });

  const refused = (): boolean => !breaker.closed && !breaker.pendingClose;
  return {
    async fire<T>(request: () => Promise<T>): Promise<T> {
      try {
        return (await breaker.fire(request)) as T;
      } catch (err) {
        if ((err as { code?: unknown }).code === 'EOPENBREAKER') throw breakerOpen(api);
        throw err;
      }
    },
    throwIfOpen() {
      if (refused()) throw breakerOpen(api);
    },
    state,
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    shutdown() {
      listeners.clear();
      breaker.shutdown();
    },
  };
}
