/**
 * Cost of tracing, on the running local stack: the windower (`permitflow run windower`, a
 * process of its own each time) over the same records with tracing off and with tracing on
 * (every record a span, every batch a span with links, exported over OTLP/HTTP protobuf to a
 * local collector stand-in that accepts and counts what it receives), and on with 10% of traces
 * sampled. The order of the variants rotates every round to spread noise; each is timed from its first committed record to its last (start-up excluded),
 * and the windower's CPU time over that span is divided by the records.
 * Goal: tracing on costs under 10% of throughput.
 *
 * Usage: see USAGE below (what --help prints).
 * Results are printed and written to bench/results/tracing-<timestamp>.json.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseBenchArgs } from '../args.ts';
import { loadConfig, REPO_ROOT } from '../../lib/config.ts';
import { createKafka } from '../../lib/kafka.ts';
import { fetchGroupLag } from '../../lib/lag.ts';
import { createLogger } from '../../lib/logger.ts';
import { createRegistry, createSerde } from '../../schemas/serde.ts';
import { applyTopology } from '../../topology/apply.ts';
import { buildTopology } from '../../topology/topics.ts';
import { produceSubmissions } from '../../test/support/pipeline.ts';
import { cpuSeconds } from '../../ops/stack/proc.ts';

const USAGE = `Usage: node --import tsx bench/tracing/index.ts [--records N] [--rounds N] [--variants off,on,sampled10] [--cpu-prof DIR]
(\`--cpu-prof DIR\` writes a V8 CPU profile of each windower process to DIR, named after its variant.)`;

const logger = createLogger({ level: 'warn' });
const { values } = parseBenchArgs('tracing', USAGE, {
  options: {
    records: { type: 'string', default: '20000' },
    rounds: { type: 'string', default: '3' },
    variants: { type: 'string', default: 'off,on,sampled10' },
    'cpu-prof': { type: 'string' },
  },
});
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

/** One windower process over a fresh namespace holding the same records: records per second, and CPU microseconds per record. */
async function run(variant: string, tracing: Record<string, string>): Promise<{ perSecond: number; cpuUsPerRecord: number }> {
  const env = { PERMITFLOW_TOPIC_NAMESPACE: `bench${randomBytes(4).toString('hex')}`, PERMITFLOW_PARTITIONS: '6', LOG_LEVEL: 'warn', WINDOW_MAX_COUNT: '500', WINDOW_MAX_AGE_MS: '60000', METRICS_PORT: '0' };
  const config = loadConfig({ ...process.env, ...env });
  const topology = buildTopology(config.topology);
  const kafka = createKafka(config, logger);
  const admin = kafka.admin();
  await admin.connect();
  await applyTopology(topology, admin, createSerde(createRegistry(config)));
  // Same seed every run: the same submissions, so every run does the same work.
  await produceSubmissions(config, topology, records, 0, 1000);
  const profile = values['cpu-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${values['cpu-prof']}`, `--cpu-prof-name=${variant}-${Date.now()}.cpuprofile`] : [];
  const child = spawn(process.execPath, [...profile, join(REPO_ROOT, 'bin/permitflow.js'), 'run', 'windower'], {
    env: { ...process.env, ...env, ...tracing },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  let started = 0;
  let cpuAtStart = 0;
  try {
    for (;;) {
      const lag = await fetchGroupLag(admin, topology.group('windower'), [topology.topics.raw.name]);
      if (lag.position > 0 && !started) {
        started = Date.now();
        cpuAtStart = cpuSeconds(child.pid!);
      }
      if (lag.lag === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const seconds = (Date.now() - started) / 1000;
    return { perSecond: records / seconds, cpuUsPerRecord: ((cpuSeconds(child.pid!) - cpuAtStart) * 1e6) / records };
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
const variants: Record<string, Record<string, string>> = {
  off: {},
  on: { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: collector.url },
  sampled10: { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: collector.url, OTEL_TRACES_SAMPLER_ARG: '0.1' },
};
const names = values.variants.split(',').filter((name) => {
  if (!(name in variants)) throw new Error(`unknown variant ${name}: ${Object.keys(variants).join(', ')}`);
  return true;
});
const runs: Record<string, { perSecond: number; cpuUsPerRecord: number }[]> = Object.fromEntries(names.map((n) => [n, []]));
// The order rotates every round, so no variant always runs first (warm broker, deletions behind it).
for (let round = 0; round < Number(values.rounds); round++) {
  for (let i = 0; i < names.length; i++) {
    const name = names[(round + i) % names.length]!;
    runs[name]!.push(await run(name, variants[name]!));
  }
}
collector.close();
const perSecond = (name: string) => median(runs[name]!.map((x) => x.perSecond));
const cpu = (name: string) => median(runs[name]!.map((x) => x.cpuUsPerRecord));
const results = {
  at: new Date().toISOString(),
  loadAverage: loadavg().map((x) => Number(x.toFixed(2))),
  records,
  rounds: Number(values.rounds),
  variants: Object.fromEntries(
    names.map((name) => [
      name,
      {
        perSecond: runs[name]!.map((x) => Math.round(x.perSecond)),
        cpuUsPerRecord: runs[name]!.map((x) => Math.round(x.cpuUsPerRecord)),
        ...(runs.off && {
          throughputRatioToOff: Number((perSecond(name) / perSecond('off')).toFixed(3)),
          cpuRatioToOff: Number((cpu(name) / cpu('off')).toFixed(3)),
          // Each round's ratio to the off run of the same round, whose load it shared: steadier
          // than the ratio of medians when the machine's load drifts over the run.
          cpuRatioToOffPerRound: runs[name]!.map((x, round) => Number((x.cpuUsPerRecord / runs.off![round]!.cpuUsPerRecord).toFixed(3))),
          medianRoundCpuRatioToOff: Number(median(runs[name]!.map((x, round) => x.cpuUsPerRecord / runs.off![round]!.cpuUsPerRecord)).toFixed(3)),
        }),
      },
    ]),
  ),
  exported: collector.received,
};
console.log(JSON.stringify(results, null, 2));
mkdirSync(join(REPO_ROOT, 'bench/results'), { recursive: true });
writeFileSync(join(REPO_ROOT, `bench/results/tracing-${Date.now()}.json`), JSON.stringify(results, null, 2));
process.exit(0);
