/**
 * Apicurio Registry for the local stack, from its Maven Central distribution (a Quarkus fast-jar
 * in a tar.gz). Clients use its Confluent-compatible API at /apis/ccompat/v7.
 *
 * Storage is `kafkasql`: every change is a record on the `kafkasql-journal` topic of the local
 * Kafka (infinite retention, created by the registry), replayed into an in-memory H2 at start,
 * so schemas and their ids survive a restart of the registry and of the whole stack.
 */
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { childEnv, logFile, run, spawnDetached } from '../stack/proc.ts';
import { HOST } from '../stack/service.ts';
import type { Service, StackContext } from '../stack/service.ts';
import { findJava, requireMaven, requireTool, serialMaven } from '../stack/tools.ts';

export const REGISTRY_VERSION = '3.3.3';
/** Apicurio Registry 3.3 is compiled for Java 21 (class file 65). */
const MIN_JAVA = 21;
const ARTIFACT = `io.apicurio:apicurio-registry-app:${REGISTRY_VERSION}:tar.gz:all`;

export function registryService(ctx: StackContext): Service {
  const { ports } = ctx.config.stack;
  // Quarkus serves health and metrics on a separate management port; it cannot be turned off
  // at run time, so it takes the port after the API's.
  const managementPort = ports.registry + 1;
  const home = join(ctx.paths.cache, `apicurio-registry-${REGISTRY_VERSION}`);
  const runJar = join(home, 'quarkus-run.jar');
  const dir = join(ctx.paths.dir, 'registry');
  const tmpDir = join(dir, 'tmp');
  const base = `http://${HOST}:${ports.registry}`;
  const api = `${base}/apis/ccompat/v7`;
  const tag = `-Dpermitflow.stack=${ctx.paths.dir}`;
  const prepareLog = logFile(ctx.paths, 'registry.prepare');
  let java = '';

  async function fetchDistribution(): Promise<void> {
    const mvn = requireMaven();
    const tar = requireTool('tar', 'install tar (`apt-get install -y tar`).');
    ctx.say('registry', `fetching Apicurio Registry ${REGISTRY_VERSION} from Maven Central (first run only, ~160 MB)`);
    const started = Date.now();
    const downloads = join(ctx.paths.cache, 'downloads');
    mkdirSync(downloads, { recursive: true });
    await serialMaven(() =>
      run(mvn, ['-q', '-B', 'dependency:copy', `-Dartifact=${ARTIFACT}`, `-DoutputDirectory=${downloads}`, '-Dmdep.overWriteIfNewer=true'], {
        what: `downloading ${ARTIFACT} from Maven Central`,
        timeoutMs: 30 * 60_000,
        // Outside the repository, so Maven does not pick up a pom.xml.
        cwd: downloads,
        log: prepareLog,
      }),
    );
    const archive = readdirSync(downloads).find((f) => f.startsWith(`apicurio-registry-app-${REGISTRY_VERSION}`) && f.endsWith('.tar.gz'));
    if (!archive) throw new Error(`mvn succeeded but left no apicurio-registry-app-${REGISTRY_VERSION}*.tar.gz in ${downloads}`);
    // Unpack next to the final folder and rename, so an interrupted unpack is never mistaken for a complete one.
    const tmp = `${home}.${process.pid}.tmp`;
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp, { recursive: true });
    await run(tar, ['-xzf', join(downloads, archive), '-C', tmp], { what: `unpacking ${archive}`, timeoutMs: 10 * 60_000, log: prepareLog });
    if (!existsSync(join(tmp, 'quarkus-run.jar'))) throw new Error(`${archive} has no quarkus-run.jar at its top level`);
    rmSync(home, { recursive: true, force: true });
    renameSync(tmp, home);
    rmSync(join(downloads, archive), { force: true });
    writeFileSync(join(home, '.complete'), `${new Date().toISOString()}\n`);
    ctx.say('registry', `fetched in ${((Date.now() - started) / 1000).toFixed(1)}s`);
  }

  return {
    name: 'registry',
    endpoint: api,
    ports: [ports.registry, managementPort],
    after: ['kafka'],
    stopSignal: 'SIGTERM',
    stopTimeoutMs: 20_000,
    owns: (cmd) => cmd.includes(tag) && cmd.includes('quarkus-run.jar'),

    async prepare() {
      java = findJava(MIN_JAVA, `Apicurio Registry ${REGISTRY_VERSION}`).path;
      if (!existsSync(join(home, '.complete')) || !existsSync(runJar)) await fetchDistribution();
      mkdirSync(tmpDir, { recursive: true });
    },

    start() {
      const env = childEnv({
        QUARKUS_HTTP_HOST: HOST,
        QUARKUS_HTTP_PORT: String(ports.registry),
        QUARKUS_MANAGEMENT_HOST: HOST,
        QUARKUS_MANAGEMENT_PORT: String(managementPort),
        APICURIO_STORAGE_KIND: 'kafkasql',
        APICURIO_KAFKASQL_BOOTSTRAP_SERVERS: `${HOST}:${ports.kafka}`,
        // Bootstrapping polls the (usually empty) snapshots topic twice; the 5 s default poll
        // timeout made every start 10 s slower.
        APICURIO_KAFKASQL_CONSUMER_POLL_TIMEOUT: '1000',
        // Confluent's default: a subject without its own compatibility level is checked BACKWARD.
        // `PUT /config/{subject}` still sets a per-subject level (an artifact rule), enforced on
        // register with HTTP 409.
        APICURIO_RULES_GLOBAL_COMPATIBILITY: 'BACKWARD',
        // Tests clean up their subjects (ccompat DELETE /subjects/{subject}).
        APICURIO_REST_DELETION_ARTIFACT_ENABLED: 'true',
        APICURIO_REST_DELETION_ARTIFACT_VERSION_ENABLED: 'true',
        APICURIO_REST_DELETION_GROUP_ENABLED: 'true',
        // The H2 cache behind kafkasql needs no pool of 20 connections.
        APICURIO_DATASOURCE_JDBC_INITIAL_SIZE: '2',
        APICURIO_DATASOURCE_JDBC_MIN_SIZE: '2',
        APICURIO_DATASOURCE_JDBC_MAX_SIZE: '10',
        APICURIO_STORAGE_SNAPSHOT_LOCATION: tmpDir,
        APICURIO_IMPORT_WORK_DIR: tmpDir,
        // Kafka client chatter (every consumer config dump) would bury the registry's own log.
        QUARKUS_LOG_CATEGORY__ORG_APACHE_KAFKA__LEVEL: 'WARN',
      });
      const heap = ctx.config.stack.registryHeap;
      return Promise.resolve(
        spawnDetached({
          paths: ctx.paths,
          name: 'registry',
          command: java,
          args: ['-Xms32m', `-Xmx${heap}`, '-XX:+UseSerialGC', '-XX:+ExitOnOutOfMemoryError', `-Djava.io.tmpdir=${tmpDir}`, tag, '-jar', runJar],
          env,
          cwd: dir,
        }),
      );
    },

    async probe() {
      // The API answers 200 while the kafkasql journal is still being replayed, with whatever part
      // of it is loaded so far; readiness on the management port turns 200 only once it is done.
      const health = await fetch(`http://${HOST}:${managementPort}/health/ready`, { signal: AbortSignal.timeout(3000) });
      await health.arrayBuffer();
      if (health.status !== 200) throw new Error(`GET /health/ready answered ${health.status} (still loading the kafkasql journal?)`);
      const res = await fetch(`${api}/subjects`, { signal: AbortSignal.timeout(3000) });
      await res.arrayBuffer();
      if (res.status !== 200) throw new Error(`GET /apis/ccompat/v7/subjects answered ${res.status}`);
    },

    async configure() {},

    env: () => ({ SCHEMA_REGISTRY_URL: api }),
  };
}
