/**
 * Apache Kafka for the local stack: one KRaft node that is both broker and controller, run from
 * the Maven Central jars that ./pom.xml fetches (no Docker, no tarball download).
 */
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Kafka, logLevel } from 'kafkajs';
import { childEnv, logFile, run, spawnDetached } from '../stack/proc.ts';
import { withTimeout } from '../../lib/timeout.ts';
import { HOST } from '../stack/service.ts';
import type { Service, StackContext } from '../stack/service.ts';
import { findJava, requireMaven, serialMaven } from '../stack/tools.ts';

export const KAFKA_VERSION = '4.1.1';
/** Kafka 4 brokers need Java 17. */
const MIN_JAVA = 17;
const POM = fileURLToPath(new URL('./pom.xml', import.meta.url));
const LOG4J2 = fileURLToPath(new URL('./log4j2.xml', import.meta.url));

export function kafkaService(ctx: StackContext): Service {
  const { ports } = ctx.config.stack;
  const home = join(ctx.paths.cache, `kafka-${KAFKA_VERSION}`);
  const libs = join(home, 'libs');
  const complete = join(home, '.complete');
  const dir = join(ctx.paths.dir, 'kafka');
  const dataDir = join(dir, 'data');
  const properties = join(dir, 'server.properties');
  const brokers = `${HOST}:${ports.kafka}`;
  // Tags the JVM's command line so `down` and `status` recognise this stack's broker.
  const tag = `-Dpermitflow.stack=${ctx.paths.dir}`;
  const prepareLog = logFile(ctx.paths, 'kafka.prepare');
  let java = '';

  const client = (retry: { retries: number }): Kafka =>
    new Kafka({ clientId: 'permitflow-stack', brokers: [brokers], logLevel: logLevel.NOTHING, connectionTimeout: 1000, requestTimeout: 5000, retry: { ...retry, initialRetryTime: 100 } });

  async function fetchJars(): Promise<void> {
    const mvn = requireMaven();
    ctx.say('kafka', `fetching Kafka ${KAFKA_VERSION} jars from Maven Central (first run only)`);
    const started = Date.now();
    const tmp = `${libs}.${process.pid}.tmp`;
    rmSync(tmp, { recursive: true, force: true });
    await serialMaven(() =>
      run(mvn, ['-q', '-B', '-f', POM, `-Dkafka.version=${KAFKA_VERSION}`, 'dependency:copy-dependencies', `-DoutputDirectory=${tmp}`], {
        what: `downloading Kafka ${KAFKA_VERSION} (org.apache.kafka:kafka_2.13) from Maven Central`,
        timeoutMs: 20 * 60_000,
        log: prepareLog,
      }),
    );
    rmSync(libs, { recursive: true, force: true });
    renameSync(tmp, libs);
    writeFileSync(complete, `${new Date().toISOString()}\n`);
    ctx.say('kafka', `fetched in ${((Date.now() - started) / 1000).toFixed(1)}s`);
  }

  function writeProperties(): void {
    const lines = [
      '# Written by `permitflow stack up` at every start; edit ops/kafka/service.ts instead.',
      'process.roles=broker,controller',
      'node.id=1',
      `controller.quorum.bootstrap.servers=${HOST}:${ports.kafkaController}`,
      // Loopback only: the stack is for this machine.
      `listeners=PLAINTEXT://${HOST}:${ports.kafka},CONTROLLER://${HOST}:${ports.kafkaController}`,
      `advertised.listeners=PLAINTEXT://${brokers}`,
      'controller.listener.names=CONTROLLER',
      'inter.broker.listener.name=PLAINTEXT',
      'listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
      `log.dirs=${dataDir}`,
      // One node: every internal topic has a single replica, or transactions and groups never start.
      'offsets.topic.replication.factor=1',
      'transaction.state.log.replication.factor=1',
      'transaction.state.log.min.isr=1',
      // Fewer internal partitions than the default 50: quicker to create and load on one node.
      'offsets.topic.num.partitions=10',
      'transaction.state.log.num.partitions=10',
      'share.coordinator.state.topic.replication.factor=1',
      'share.coordinator.state.topic.min.isr=1',
      'min.insync.replicas=1',
      // Tests start and stop consumer groups constantly; the 3 s default delay only slows them.
      'group.initial.rebalance.delay.ms=0',
      'num.partitions=1',
      // Topics are created by `topology apply` with their real configs; a typo must not create one.
      'auto.create.topics.enable=false',
      // Retention: a week of data or 1 GiB per partition, whichever comes first; smaller segments
      // so retention and compaction act on a developer machine's volumes.
      'log.retention.hours=168',
      'log.retention.bytes=1073741824',
      'log.segment.bytes=67108864',
      'log.retention.check.interval.ms=60000',
      // Compacted state topics are central: keep the cleaner on, with a buffer sized to the heap.
      'log.cleaner.enable=true',
      'log.cleaner.dedupe.buffer.size=33554432',
      'log.cleaner.threads=1',
      'num.network.threads=2',
      'num.io.threads=4',
      'num.recovery.threads.per.data.dir=1',
      '',
    ];
    writeFileSync(properties, lines.join('\n'));
  }

  return {
    name: 'kafka',
    endpoint: brokers,
    ports: [ports.kafka, ports.kafkaController],
    after: [],
    stopSignal: 'SIGTERM',
    stopTimeoutMs: 30_000,
    owns: (cmd) => cmd.includes(tag) && cmd.includes('kafka.Kafka'),

    async prepare() {
      java = findJava(MIN_JAVA, `Kafka ${KAFKA_VERSION}`).path;
      mkdirSync(home, { recursive: true });
      mkdirSync(dataDir, { recursive: true });
      if (!existsSync(complete)) await fetchJars();
      writeProperties();
      if (!existsSync(join(dataDir, 'meta.properties'))) {
        // KRaft storage is formatted once, as a standalone (single-voter) dynamic quorum.
        ctx.say('kafka', 'formatting KRaft storage');
        await run(
          java,
          [`-Dlog4j2.configurationFile=${LOG4J2}`, '-cp', join(libs, '*'), 'kafka.tools.StorageTool', 'format', '--config', properties, `--cluster-id=${ctx.secrets.kafkaClusterId}`, '--standalone', '--ignore-formatted'],
          { what: 'formatting Kafka storage', timeoutMs: 120_000, log: prepareLog },
        );
      }
    },

    start() {
      const heap = ctx.config.stack.kafkaHeap;
      return Promise.resolve(
        spawnDetached({
          paths: ctx.paths,
          name: 'kafka',
          command: java,
          args: [
            '-Xms64m',
            `-Xmx${heap}`,
            '-XX:+UseG1GC',
            '-XX:MaxGCPauseMillis=20',
            '-XX:+ExitOnOutOfMemoryError',
            '-Djava.awt.headless=true',
            `-Dlog4j2.configurationFile=${LOG4J2}`,
            `-Dkafka.logs.dir=${ctx.paths.logs}`,
            tag,
            '-cp',
            join(libs, '*'),
            'kafka.Kafka',
            properties,
          ],
          env: childEnv(),
          cwd: dir,
        }),
      );
    },

    async probe() {
      const admin = client({ retries: 0 }).admin();
      try {
        await withTimeout(
          (async () => {
            await admin.connect();
            const cluster = await admin.describeCluster();
            if (cluster.brokers.length === 0 || cluster.controller === null) throw new Error('no controller elected yet');
            await admin.listTopics();
          })(),
          5000,
          'kafka admin',
        );
      } finally {
        await admin.disconnect().catch(() => {});
      }
    },

    async configure() {
      // The first consumer group and the first transactional producer create __consumer_offsets
      // and __transaction_state; doing that here makes "ready" mean ready for groups and
      // transactions, so the first test does not pay for it (or time out on it).
      const kafka = client({ retries: 8 });
      const admin = kafka.admin();
      const producer = kafka.producer({ transactionalId: 'permitflow-stack-warmup', idempotent: true, maxInFlightRequests: 1 });
      try {
        await withTimeout(
          (async () => {
            await admin.connect();
            await admin.describeGroups(['permitflow-stack-warmup']);
            await producer.connect(); // InitProducerId: finds (and creates) the transaction coordinator
          })(),
          60_000,
          'kafka group and transaction coordinators',
        );
      } finally {
        await producer.disconnect().catch(() => {});
        await admin.disconnect().catch(() => {});
      }
    },

    env: () => ({ KAFKA_BROKERS: brokers }),
  };
}
