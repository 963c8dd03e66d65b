/**
 * Cost of tracing, on the running local stack: the windower (`permitflow run windower`, a
 * process of its own each time) over the same records with tracing off and with tracing on
 * (every record a span, every batch a span with links, exported over OTLP/HTTP to a local
 * collector stand-in that accepts and counts what it receives). Runs alternate off/on to spread
 * noise; each is timed from its first committed record to its last (start-up excluded).
 * Goal: tracing on costs under 10% of throughput.
 *
 * Usage: node --import tsx bench/tracing/index.ts [--records N] [--rounds N]
 * Results are printed and written to bench/results/tracing-<timestamp>.json.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig, REPO_ROOT } from '../../lib/config.ts';
import { createKafka } from '../../lib/kafka.ts';
import { fetchGroupLag } from '../../lib/lag.ts';
import { createLogger } from '../../lib/logger.ts';
import { createRegistry, createSerde } from '../../schemas/serde.ts';
import { applyTopology } from '../../topology/apply.ts';
import { buildTopology } from '../../topology/topics.ts';
import { produceSubmissions } from '../../test/support/pipeline.ts';

const logger = createLogger({ level: 'warn' });
const { values } = parseArgs({ options: { records: { type: 'string', default: '20000' }, rounds: { type: 'string', default: '3' } } });
const records = Number(values.records);

/** An OTLP/HTTP endpoint that takes every export and counts requests and bytes. */
async function collectorStandIn(): Promise<{ url: string; received: { requests: number; bytes: number }; close(): void }> {
  const received = { requests: 0, bytes: 0 };
  const server = createServer((req, res) => {
    req.on('data', (chunk: Buffer) => (received.bytes += chunk.length));
    req.on('end', () => {
      received.requests += 1;
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/traces`, received, close: () => server.close() };
}

/** One windower process over a fresh namespace holding the same records; records per second. */
async function run(tracesEndpoint: string | undefined): Promise<number> {
  const env = { PERMITFLOW_TOPIC_NAMESPACE: `bench${randomBytes(4).toString('hex')}`, PERMITFLOW_PARTITIONS: '6', LOG_LEVEL: 'warn', WINDOW_MAX_COUNT: '500', WINDOW_MAX_AGE_MS: '60000', METRICS_PORT: '0' };
  const config = loadConfig({ ...process.env, ...env });
  const topology = buildTopology(config.topology);
  const kafka = createKafka(config, logger);
  const admin = kafka.admin();
  await admin.connect();
  await applyTopology(topology, admin, createSerde(createRegistry(config)));
  // Same seed every run: the same submissions, so every run does the same work.
  await produceSubmissions(config, topology, records, 0, 1000);
  const child = spawn(process.execPath, [join(REPO_ROOT, 'bin/permitflow.js'), 'run', 'windower'], {
    env: { ...process.env, ...env, ...(tracesEndpoint && { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: tracesEndpoint }) },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  let started = 0;
  try {
    for (;;) {
      const lag = await fetchGroupLag(admin, topology.group('windower'), [topology.topics.raw.name]);
      if (lag.position > 0) started ||= Date.now();
      if (lag.lag === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return records / ((Date.now() - started) / 1000);
  } finally {
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
    const names = [...Object.values(topology.topics).map((t) => t.name), ...topology.changelogs.map((c) => c.name)];
    await admin.deleteTopics({ topics: names }).catch(() => undefined);
    await admin.disconnect();
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const collector = await collectorStandIn();
const off: number[] = [];
const on: number[] = [];
for (let round = 0; round < Number(values.rounds); round++) {
  off.push(await run(undefined));
  on.push(await run(collector.url));
}
collector.close();
const results = {
  at: new Date().toISOString(),
  records,
  rounds: off.length,
  offPerSecond: off.map(Math.round),
  onPerSecond: on.map(Math.round),
  ratioOnToOff: Number((median(on) / median(off)).toFixed(3)),
  costPercent: Number((100 * (1 - median(on) / median(off))).toFixed(1)),
  exported: collector.received,
};
console.log(JSON.stringify(results, null, 2));
mkdirSync(join(REPO_ROOT, 'bench/results'), { recursive: true });
writeFileSync(join(REPO_ROOT, `bench/results/tracing-${Date.now()}.json`), JSON.stringify(results, null, 2));
process.exit(0);
