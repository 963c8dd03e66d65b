/**
 * Metrics of the external lookup APIs (prom-client, default registry): how long each request
 * took and how it ended, how often the shared cache answered, and each breaker's state.
 */
import { Counter, Gauge, Histogram } from 'prom-client';
import type { BreakerState } from '../../../domain/lookups.ts';

/** Breaker state as a number a graph and an alert can compare: 0 closed, 1 half-open, 2 open. */
export const BREAKER_STATE_VALUE: Record<BreakerState, number> = { closed: 0, halfOpen: 1, open: 2 };

export const lookupMetrics = {
  requestSeconds: new Histogram({
    name: 'permitflow_lookup_request_duration_seconds',
    help: 'One HTTP request to a lookup API, by outcome (ok, not_modified, or the PF_LOOKUP_* error code)',
    labelNames: ['api', 'outcome'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  }),
  cache: new Counter({
    name: 'permitflow_lookup_cache_total',
    help: 'Lookups by what the shared cache held: hit (fresh, no request), stale (revalidated with a conditional request), miss',
    labelNames: ['api', 'result'],
  }),
  breakerState: new Gauge({ name: 'permitflow_lookup_breaker_state', help: 'Circuit breaker state per API: 0 closed, 1 half-open, 2 open', labelNames: ['api'] }),
};
