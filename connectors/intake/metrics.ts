/**
 * Prometheus metrics of the intake, on the default registry (so `/metrics` also shows the
 * process metrics). Metrics are created once per registry and shared by every app built in the
 * process (tests build many).
 */
import { Counter, Gauge, Histogram, register, type Registry } from 'prom-client';
import { registerProcessMetrics } from '../../lib/observability/metrics.ts';

export interface IntakeMetrics {
  registry: Registry;
  httpDuration: Histogram<'method' | 'route' | 'status_code'>;
  accepted: Counter<'payload'>;
  replayed: Counter;
  attachmentBytes: Counter;
  lag: Gauge<'group'>;
  shedding: Gauge;
}

const cache = new WeakMap<Registry, IntakeMetrics>();

export function intakeMetrics(registry: Registry = register): IntakeMetrics {
  let metrics = cache.get(registry);
  if (metrics) return metrics;
  if (registry === register) registerProcessMetrics();
  const registers = [registry];
  metrics = {
    registry,
    httpDuration: new Histogram({
      name: 'permitflow_intake_http_request_duration_seconds',
      help: 'HTTP request duration by method, route and status',
      labelNames: ['method', 'route', 'status_code'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    accepted: new Counter({ name: 'permitflow_intake_accepted_total', help: 'Submissions accepted (202), by where the payload went', labelNames: ['payload'], registers }),
    replayed: new Counter({ name: 'permitflow_intake_idempotent_replays_total', help: 'Responses replayed for a repeated Idempotency-Key', registers }),
    attachmentBytes: new Counter({ name: 'permitflow_intake_attachment_bytes_total', help: 'Attachment bytes received with accepted submissions', registers }),
    lag: new Gauge({ name: 'permitflow_intake_watched_lag', help: 'Lag (records) of each watched consumer group, as last read', labelNames: ['group'], registers }),
    shedding: new Gauge({ name: 'permitflow_intake_backpressure_shedding', help: '1 while submissions are refused because of lag', registers }),
  };
  cache.set(registry, metrics);
  return metrics;
}
