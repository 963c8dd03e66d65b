/**
 * `permitflow plan --metrics`: service rates from a running process's real `/metrics` endpoint
 * (the runtime's own counters on prom-client's default registry, served by serveMetrics), by the
 * utilisation law, and the benchmark's rates kept, by name, for the stages no process runs.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { createLogger } from '../../lib/logger.ts';
import { serveMetrics } from '../../lib/observability/metrics.ts';
import { runtimeMetrics } from '../../processors/runtime/metrics.ts';
import { liveRates, processLoad, scrapeLoads, withLiveRates } from '../../cli/plan/live-rates.ts';
import { parseSamples } from '../../lib/observability/prometheus-text.ts';
import type { ServiceRates } from '../../cli/plan/capacity.ts';

const bench: ServiceRates = {
  perInstance: { windower: 2000, enricher: 900, validator: 1200, decider: 2800, 'read-model': 1400 },
  allInOne: 800,
  source: 'bench/e2e/reference/e2e.json',
};

test('a process running two stages: its CPU shared by handling time, each stage its records per busy second', async () => {
  const server = await serveMetrics({ host: '127.0.0.1', port: 0 }, createLogger({ level: 'silent' }));
  after(() => server.close());
  // 600 windower records at 1 ms each and 300 enricher records at 4 ms: the enricher takes two thirds of the handling time.
  runtimeMetrics.recordsIn.inc({ processor: 'windower', topic: 'submissions' }, 600);
  runtimeMetrics.recordsIn.inc({ processor: 'enricher', topic: 'batches' }, 300);
  for (let i = 0; i < 600; i++) runtimeMetrics.recordSeconds.observe({ processor: 'windower' }, 0.001);
  for (let i = 0; i < 300; i++) runtimeMetrics.recordSeconds.observe({ processor: 'enricher' }, 0.004);

  const [load] = await scrapeLoads([server.url.replace(/\/metrics$/, '')]);
  assert.ok(load!.cpuSeconds > 0, 'the process CPU counter is read');
  assert.deepEqual(Object.keys(load!.stages).sort(), ['enricher', 'windower'], 'stages that handled nothing are not measured');
  assert.equal(load!.stages.windower!.records, 600);
  assert.ok(Math.abs(load!.stages.enricher!.handlingSeconds - 1.2) < 1e-9);

  const live = liveRates([load!]);
  assert.ok(Math.abs(live.windower! - 600 / (load!.cpuSeconds / 3)) < 1e-6, `windower ${live.windower}`);
  assert.ok(Math.abs(live.enricher! - 300 / ((load!.cpuSeconds * 2) / 3)) < 1e-6, `enricher ${live.enricher}`);

  const rates = withLiveRates(bench, live, [server.url]);
  assert.equal(rates.perInstance.windower, live.windower);
  assert.equal(rates.perInstance.validator, 1200, 'the benchmark rate stays for a stage no process runs');
  assert.equal(rates.source, `live metrics (${server.url}) for windower, enricher; bench/e2e/reference/e2e.json for validator, decider, read-model`);
});

test('instances of one stage add their records and busy seconds; the read model counts its transactions', () => {
  const scrape = (cpu: number, records: number, seconds: number) =>
    `# HELP process_cpu_seconds_total x\nprocess_cpu_seconds_total ${cpu}\npermitflow_read_model_records_total{topic="a"} ${records / 2}\npermitflow_read_model_records_total{topic="b"} ${records / 2}\npermitflow_read_model_transaction_seconds_sum ${seconds}\n`;
  const live = liveRates([processLoad('a', scrape(10, 4000, 3)), processLoad('b', scrape(30, 8000, 9))]);
  assert.deepEqual(live, { 'read-model': 12000 / 40 });
});

test('the exposition format: labels with escapes, timestamps, and a scrape that is not a permitflow process', async () => {
  // The shared parser (lib/observability/prometheus-text.ts) reads the scrapes.
  const text = 'm{a="x\\"y",b="1\\\\2"} 3.5 1700000000000\n# TYPE m counter\nn 2\n';
  assert.deepEqual(parseSamples(text, 'm'), [{ labels: { a: 'x"y', b: '1\\2' }, value: 3.5 }]);
  assert.deepEqual(parseSamples(text, 'n'), [{ labels: {}, value: 2 }]);
  assert.throws(() => processLoad('http://x/metrics', 'up 1\n'), /--metrics http:\/\/x\/metrics: no process_cpu_seconds_total/);
  await assert.rejects(scrapeLoads(['http://127.0.0.1:9/metrics'], 2_000), /--metrics http:\/\/127\.0\.0\.1:9\/metrics: cannot scrape/);
});
