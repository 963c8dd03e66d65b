/**
 * The two references measured in the same run as permitflow:
 *
 * - the seed's design on Celery + Redis (`../shared/peers/celery-seed`, its README says how it
 *   works and what is unfair in each direction), with its lookup cache pre-warmed like ours;
 * - Kafka's own producer ceiling on this broker: `org.apache.kafka.tools.ProducerPerformance`
 *   from the Kafka jars the stack already caches (1 KB records, acks=all, the topology's
 *   partition count).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadConfig, REPO_ROOT } from '../../lib/config.ts';
import { createKafka } from '../../lib/kafka.ts';
import { createLogger } from '../../lib/logger.ts';
import { KAFKA_VERSION } from '../../ops/kafka/service.ts';
import { findJava } from '../../ops/stack/tools.ts';
import { freePort } from '../../test/support/ports.ts';

export interface CommandOutput {
  code: number | null;
  output: string;
}

function runCommand(command: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<CommandOutput> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    // SIGTERM lets run.sh's trap stop its worker and Redis and drop its schema.
    const timer = setTimeout(() => child.kill('SIGTERM'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolvePromise({ code, output });
    });
  });
}

export const celeryPeerDir = (): string => resolve(process.env.CELERY_PEER_DIR ?? join(REPO_ROOT, '../shared/peers/celery-seed'));

export interface CeleryResult {
  intake: 'batch' | 'message';
  decided: number;
  seconds: number;
  decisionsPerSecond: number;
}

export async function celeryPeer(rows: number, intake: 'batch' | 'message'): Promise<CeleryResult> {
  const dir = celeryPeerDir();
  if (!existsSync(join(dir, 'run.sh'))) throw new Error(`the Celery peer is not at ${dir} (set CELERY_PEER_DIR)`);
  const config = loadConfig();
  const env = {
    ...process.env,
    PROJECT_DIR: REPO_ROOT,
    PEER_PREWARM: '1',
    // The peer's venv lives with the stack's other downloads (built on first use from its requirements.txt).
    PEER_VENV: process.env.PEER_VENV ?? join(config.stack.cacheDir, 'celery-peer-venv'),
    DATABASE_URL: config.database.url,
    // Its private Redis on a port free now (its default, 26379, may be in use by another stack).
    PEER_REDIS_PORT: String(await freePort()),
  };
  const { code, output } = await runCommand('bash', [join(dir, 'run.sh'), String(rows), `--intake=${intake}`], env, Math.max(600_000, rows * 30));
  const match = /celery: (\d+) decided in ([\d.]+) s -> (\d+) decisions\/s/.exec(output);
  if (code !== 0 || !match) throw new Error(`the Celery peer failed (exit ${code}):\n${output.split('\n').slice(-15).join('\n')}`);
  return { intake, decided: Number(match[1]), seconds: Number(match[2]), decisionsPerSecond: Number(match[3]) };
}

export interface ProducerPerfResult {
  records: number;
  recordsPerSecond: number;
  mbPerSecond: number;
  avgLatencyMs: number;
}

export async function producerPerformance(records: number, partitions: number): Promise<ProducerPerfResult> {
  const config = loadConfig();
  const topic = `e2e-producer-perf-${Date.now().toString(36)}`;
  const admin = createKafka(config, createLogger({ level: 'warn' })).admin();
  await admin.connect();
  try {
    await admin.createTopics({ topics: [{ topic, numPartitions: partitions, replicationFactor: 1 }], waitForLeaders: true });
    const java = findJava(17, 'Kafka ProducerPerformance');
    const libs = join(config.stack.cacheDir, `kafka-${KAFKA_VERSION}`, 'libs');
    const args = [
      '-Xmx256m',
      '-cp',
      join(libs, '*'),
      'org.apache.kafka.tools.ProducerPerformance',
      '--topic', topic,
      '--num-records', String(records),
      '--record-size', '1024',
      '--throughput', '-1',
      '--producer-props', `bootstrap.servers=${config.kafka.brokers.join(',')}`, 'acks=all',
    ];
    const { code, output } = await runCommand(java.path, args, process.env, 300_000);
    // The summary is the last line: "N records sent, R records/sec (M MB/sec), A ms avg latency, ...".
    const summary = /(\d+) records sent, ([\d.]+) records\/sec \(([\d.]+) MB\/sec\), ([\d.]+) ms avg latency/.exec(output.trim().split('\n').at(-1) ?? '');
    if (code !== 0 || !summary) throw new Error(`ProducerPerformance failed (exit ${code}):\n${output.split('\n').slice(-10).join('\n')}`);
    return { records: Number(summary[1]), recordsPerSecond: Math.round(Number(summary[2])), mbPerSecond: Number(summary[3]), avgLatencyMs: Number(summary[4]) };
  } finally {
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin.disconnect();
  }
}
