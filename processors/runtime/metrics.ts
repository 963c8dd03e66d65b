/**
 * Runtime metrics (prom-client, default registry), labelled by processor so `run all` in one
 * process still tells stages apart. The observability work extends these; processors add their
 * own (e.g. the windower's idempotency collisions) next to their code.
 */
import { Counter, Gauge, Histogram } from 'prom-client';

export const runtimeMetrics = {
  recordsIn: new Counter({ name: 'permitflow_records_in_total', help: 'Records consumed', labelNames: ['processor', 'topic'] }),
  recordsOut: new Counter({ name: 'permitflow_records_out_total', help: 'Records produced', labelNames: ['processor', 'topic'] }),
  recordSeconds: new Histogram({
    name: 'permitflow_record_duration_seconds',
    help: 'Time to handle one record',
    labelNames: ['processor'],
    buckets: [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
  }),
  inFlight: new Gauge({ name: 'permitflow_in_flight_records', help: 'Records being handled now', labelNames: ['processor'] }),
  pausedPartitions: new Gauge({ name: 'permitflow_paused_partitions', help: 'Input partitions paused as backpressure', labelNames: ['processor'] }),
  transactions: new Counter({ name: 'permitflow_transactions_total', help: 'Kafka transactions by outcome', labelNames: ['processor', 'outcome'] }),
  deadLetters: new Counter({ name: 'permitflow_dead_letters_total', help: 'Records sent to the DLQ', labelNames: ['processor', 'error_class'] }),
  retries: new Counter({ name: 'permitflow_retries_total', help: 'Records sent to a retry topic, by the error that failed them', labelNames: ['processor', 'error_class'] }),
  endToEnd: new Histogram({
    name: 'permitflow_end_to_end_seconds',
    help: 'From the intake accepting a submission to its decision (accepted or rejected), observed when the decision commits',
    labelNames: ['outcome'],
    buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600],
  }),
  producerRebuilds: new Counter({ name: 'permitflow_producer_rebuilds_total', help: 'Transactional producers rebuilt after a failed commit/abort or an ambiguous error', labelNames: ['processor'] }),
};
