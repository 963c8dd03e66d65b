/**
 * `permitflow stack up | down | status`: the local stack without Docker.
 *
 * Every service (ops/<service>/service.ts) has the same shape (see Service): `up` prepares them
 * all in parallel (downloads and builds are cached), starts each detached unless its recorded
 * process is alive, waits until it really answers, then writes the env file. `down` stops exactly
 * the processes whose pids it recorded. Operator command: plain console output.
 */
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { Command } from 'commander';
import { ConfigError, loadConfig, REPO_ROOT } from '../../lib/config.ts';
import type { Config } from '../../lib/config.ts';
import { kafkaService } from '../kafka/service.ts';
import { minioService } from '../minio/service.ts';
import { ensurePromtool } from '../prometheus/promtool.ts';
import { postgresService } from '../postgres/service.ts';
import { redisService } from '../redis/service.ts';
import { registryService } from '../registry/service.ts';
import { ensureChromium } from './chromium.ts';
import { ensureDeployTools, ensureSystemdAnalyze } from './deploy-tools.ts';
import { ensureExtractTools } from './extract-tools.ts';
import { writeEnvFile } from './env-file.ts';
import { cmdline, isAlive, logFile, portInUse, readPid, removePid, stopProcess, tailLog, waitUntil } from './proc.ts';
import { withTimeout } from '../../lib/timeout.ts';
import { auditKeyEnv, loadSecrets } from './secrets.ts';
import type { Secrets } from './secrets.ts';
import { prepareStackDirs, StackError, stackPaths } from './service.ts';
import type { Service, StackContext, StackPaths } from './service.ts';

export interface StackOptions {
  /** Where progress lines go (default console.log). */
  out?: (line: string) => void;
}

export interface ServiceReport {
  name: string;
  endpoint: string;
  state: 'ready' | 'running' | 'failed' | 'not ready' | 'down' | 'stopped' | 'killed';
  pid?: number;
  seconds?: number;
  error?: string;
}

export interface StackResult {
  ok: boolean;
  services: ServiceReport[];
}

/** Start order matters only through Service.after; this is the order of the printed tables. */
function services(ctx: StackContext): Service[] {
  return [kafkaService(ctx), registryService(ctx), minioService(ctx), redisService(ctx), postgresService(ctx)];
}

const PORT_OPTIONS: Record<keyof Config['stack']['ports'], string> = {
  kafka: 'PERMITFLOW_KAFKA_PORT',
  kafkaController: 'PERMITFLOW_KAFKA_CONTROLLER_PORT',
  registry: 'PERMITFLOW_REGISTRY_PORT',
  minio: 'PERMITFLOW_MINIO_PORT',
  minioConsole: 'PERMITFLOW_MINIO_CONSOLE_PORT',
  redis: 'PERMITFLOW_REDIS_PORT',
  postgres: 'PERMITFLOW_POSTGRES_PORT',
};

function portOption(config: Config, port: number): string {
  const entry = (Object.entries(config.stack.ports) as [keyof Config['stack']['ports'], number][]).find(([, p]) => p === port);
  if (entry) return PORT_OPTIONS[entry[0]];
  return `${PORT_OPTIONS.registry} (the registry's management interface takes the next port)`;
}

const row = (name: string, state: string, rest: string): string => `${name.padEnd(10)} ${state.padEnd(9)} ${rest}`.trimEnd();
const seconds = (since: number): number => Math.round((Date.now() - since) / 100) / 10;

/** Secrets stand-in for `down`/`status` of a stack that was never brought up: nothing to reach. */
const NO_SECRETS: Secrets = {
  minioRootUser: 'none',
  minioRootPassword: 'none',
  s3AccessKeyId: 'none',
  s3SecretAccessKey: 'none',
  redisPassword: 'none',
  postgresSuperPassword: 'none',
  postgresPassword: 'none',
  kafkaClusterId: 'AAAAAAAAAAAAAAAAAAAAAA',
};

function context(config: Config, secrets: Secrets, out: (line: string) => void): StackContext {
  return { config, paths: stackPaths(config), secrets, say: (name, message) => out(`${name.padEnd(10)} ${message}`) };
}

/** The live process recorded for a service, if it is really that service (pids get recycled). */
function ownedPid(paths: StackPaths, service: Service): number | undefined {
  const pid = readPid(paths, service.name);
  if (pid === undefined) return undefined;
  const cmd = cmdline(pid);
  return cmd !== undefined && service.owns(cmd) ? pid : undefined;
}

/** One `stack up` at a time per stack folder: two would race on ports and pid files. */
function lock(paths: StackPaths): () => void {
  const file = join(paths.dir, 'up.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, 'wx', 0o600);
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      return () => rmSync(file, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = Number.parseInt(readFileSync(file, 'utf8'), 10);
      if (Number.isInteger(holder) && holder !== process.pid && isAlive(holder)) {
        throw new StackError(`another \`stack up\` (pid ${holder}) is running on ${paths.dir}; wait for it to finish`);
      }
      rmSync(file, { force: true }); // left by an interrupted run
    }
  }
  throw new StackError(`cannot take the lock ${file}`);
}

interface Deferred {
  promise: Promise<boolean>;
  resolve: (ready: boolean) => void;
}

function deferred(): Deferred {
  let resolve!: (ready: boolean) => void;
  const promise = new Promise<boolean>((r) => (resolve = r));
  return { promise, resolve };
}

async function bringUp(ctx: StackContext, service: Service, readiness: Map<string, Deferred>, out: (line: string) => void): Promise<ServiceReport> {
  const started = Date.now();
  const report: ServiceReport = { name: service.name, endpoint: service.endpoint, state: 'failed' };
  const timeoutMs = ctx.config.stack.readyTimeoutMs;
  let pid: number | undefined;
  try {
    pid = ownedPid(ctx.paths, service);
    if (pid !== undefined) {
      // Already running: leave it alone, only make sure it answers (it may still be starting).
      const running = pid;
      await waitUntil(() => service.probe(), { deadline: Date.now() + timeoutMs, giveUp: () => (isAlive(running) ? undefined : `pid ${running} exited`) });
      report.state = 'running';
    } else {
      removePid(ctx.paths, service.name); // stale, if any
      await service.prepare();
      for (const dependency of service.after) {
        if (!(await readiness.get(dependency)?.promise)) throw new StackError(`not started: it needs ${dependency}, which is not ready`);
      }
      for (const port of service.ports) {
        if (await portInUse(port)) {
          throw new StackError(`port ${port} (${service.name}) is already in use by a process this stack did not start; stop it, or move ${service.name} with ${portOption(ctx.config, port)}`);
        }
      }
      const startedAt = Date.now();
      pid = await service.start();
      const spawned = pid;
      await waitUntil(() => service.probe(), {
        deadline: startedAt + timeoutMs,
        giveUp: () => (isAlive(spawned) ? undefined : `exited during start-up (pid ${spawned})`),
      });
      report.state = 'ready';
    }
    await service.configure();
    report.pid = pid;
    report.seconds = seconds(started);
    readiness.get(service.name)?.resolve(true);
    out(row(service.name, report.state, `${service.endpoint}  pid ${pid}  (${report.seconds}s)`));
  } catch (err) {
    readiness.get(service.name)?.resolve(false);
    report.error = (err as Error).message;
    report.pid = pid;
    const lines = [row(service.name, 'failed', report.error)];
    if (err instanceof StackError && err.details.length > 0) lines.push(...err.details.map((l) => `           | ${l}`));
    else if (pid !== undefined) {
      const log = logFile(ctx.paths, service.name);
      lines.push(`           last lines of ${log}:`, ...tailLog(log).map((l) => `           | ${l}`));
      if (isAlive(pid)) lines.push(`           (pid ${pid} is still running; \`stack down\` stops it)`);
    }
    out(lines.join('\n'));
  }
  return report;
}

/** Starts whatever is not running, waits until every service answers, writes the env file. */
export async function stackUp(config: Config, options: StackOptions = {}): Promise<StackResult> {
  const out = options.out ?? console.log;
  const paths = stackPaths(config);
  // Searchable but not listable by others: PostgreSQL runs as its own user and must reach its folder.
  mkdirSync(paths.dir, { recursive: true, mode: 0o711 });
  mkdirSync(paths.cache, { recursive: true });
  const release = lock(paths);
  try {
    const secrets = loadSecrets(paths.dir, true)!;
    const ctx = context(config, secrets, out);
    const all = services(ctx);
    prepareStackDirs(paths, all.map((s) => s.name));
    const readiness = new Map(all.map((s) => [s.name, deferred()]));
    const started = Date.now();
    // The extraction stage's OCR tools are Debian packages, like Redis and PostgreSQL.
    out(row('extract', 'ready', await ensureExtractTools(paths, (message) => out(`extract    ${message}`))));
    const reports = await Promise.all(all.map((s) => bringUp(ctx, s, readiness, out)));
    const vars = Object.assign({}, ...all.map((s) => s.env()), auditKeyEnv(secrets)) as Record<string, string>;
    writeEnvFile(config.stack.envFile, vars);
    const ok = reports.every((r) => r.state === 'ready' || r.state === 'running');
    out(ok ? `stack ready in ${seconds(started)}s; env file: ${config.stack.envFile}` : `stack up failed: ${reports.filter((r) => r.state === 'failed').map((r) => r.name).join(', ')} not ready (logs in ${paths.logs})`);
    return { ok, services: reports };
  } finally {
    release();
  }
}

async function bringDown(ctx: StackContext, service: Service, out: (line: string) => void): Promise<ServiceReport> {
  const report: ServiceReport = { name: service.name, endpoint: service.endpoint, state: 'down' };
  const recorded = readPid(ctx.paths, service.name);
  const pid = ownedPid(ctx.paths, service);
  if (pid === undefined) {
    removePid(ctx.paths, service.name);
    out(row(service.name, 'down', recorded === undefined ? 'not running' : `not running (removed stale pid file for ${recorded})`));
    return report;
  }
  const started = Date.now();
  try {
    report.state = await stopProcess(pid, service.stopSignal, service.stopTimeoutMs);
    removePid(ctx.paths, service.name);
    report.pid = pid;
    report.seconds = seconds(started);
    out(row(service.name, report.state, `pid ${pid}  (${report.seconds}s)${report.state === 'killed' ? `  did not stop within ${service.stopTimeoutMs / 1000}s of ${service.stopSignal}` : ''}`));
  } catch (err) {
    report.state = 'failed';
    report.error = (err as Error).message;
    out(row(service.name, 'failed', report.error));
  }
  return report;
}

/** Stops the processes `up` started (registry first: it writes to Kafka), by their recorded pids. */
export async function stackDown(config: Config, options: StackOptions & { purge?: boolean } = {}): Promise<StackResult> {
  const out = options.out ?? console.log;
  const paths = stackPaths(config);
  const ctx = context(config, loadSecrets(paths.dir, false) ?? NO_SECRETS, out);
  const all = services(ctx);
  const first = all.filter((s) => s.name === 'registry');
  const reports = [...(await Promise.all(first.map((s) => bringDown(ctx, s, out))))];
  reports.push(...(await Promise.all(all.filter((s) => !first.includes(s)).map((s) => bringDown(ctx, s, out)))));
  const ok = reports.every((r) => r.state !== 'failed');
  if (ok && options.purge) purge(paths, out);
  return { ok, services: reports };
}

/** Deletes the stack folder (data, logs, secrets), refusing anything that does not look like one. */
function purge(paths: StackPaths, out: (line: string) => void): void {
  const dir = resolve(paths.dir);
  if (!existsSync(dir)) return;
  const looksLikeStack = existsSync(join(dir, 'secrets.json')) || existsSync(join(dir, 'pids'));
  if (!looksLikeStack || dir === '/' || dir === resolve(REPO_ROOT)) throw new StackError(`refusing to delete ${dir}: it does not look like a stack folder`);
  rmSync(dir, { recursive: true, force: true });
  out(`removed ${dir}`);
}

/** Each service's endpoint, pid and whether it answers now; ok only if all do. */
export async function stackStatus(config: Config, options: StackOptions = {}): Promise<StackResult> {
  const out = options.out ?? console.log;
  const paths = stackPaths(config);
  const ctx = context(config, loadSecrets(paths.dir, false) ?? NO_SECRETS, out);
  const reports = await Promise.all(
    services(ctx).map(async (service): Promise<ServiceReport> => {
      const pid = ownedPid(paths, service);
      const answers = await withTimeout(service.probe(), 6000, service.name).then(
        () => undefined,
        (err: Error) => err.message,
      );
      const state = answers === undefined ? 'ready' : pid === undefined ? 'down' : 'not ready';
      return { name: service.name, endpoint: service.endpoint, state, pid, error: answers };
    }),
  );
  for (const r of reports) {
    const owner = r.pid !== undefined ? `pid ${r.pid}` : r.state === 'ready' ? 'not started by this stack' : '-';
    out(row(r.name, r.state, `${r.endpoint.padEnd(40)} ${owner}${r.state === 'not ready' ? `  (${r.error})` : ''}`));
  }
  return { ok: reports.every((r) => r.state === 'ready'), services: reports };
}

/**
 * Builds or fetches the pinned operator tools the tests need into the cache (promtool; kubeconform,
 * kustomize and their schemas; systemd-analyze; Chromium for the plan report); instant once there.
 */
export async function stackTools(config: Config, options: StackOptions = {}): Promise<{ ok: boolean }> {
  const out = options.out ?? console.log;
  const paths = stackPaths(config);
  const say = (tool: string, message: string) => out(`${tool.padEnd(10)} ${message}`);
  out(row('promtool', 'ready', await ensurePromtool(paths, (message) => say('promtool', message))));
  const deploy = await ensureDeployTools(paths, say);
  out(row('kubeconform', 'ready', deploy.kubeconform));
  out(row('kustomize', 'ready', deploy.kustomize));
  out(row('schemas', 'ready', `Kubernetes ${deploy.kubernetesVersion} and KEDA CRDs in ${dirname(dirname(deploy.schemaLocations[0]))}`));
  out(row('systemd', 'ready', await ensureSystemdAnalyze(paths, say)));
  out(row('chromium', 'ready', await ensureChromium(paths, say)));
  return { ok: true };
}

async function runAction(action: () => Promise<{ ok: boolean }>): Promise<void> {
  try {
    const result = await action();
    if (!result.ok) process.exitCode = 1;
  } catch (err) {
    process.exitCode = 1;
    if (err instanceof StackError) console.error([`stack: ${err.message}`, ...err.details.map((l) => `  | ${l}`)].join('\n'));
    else if (err instanceof ConfigError) console.error(err.message);
    else throw err;
  }
}

export function stackCommand(): Command {
  const stack = new Command('stack').description(
    'Local stack without Docker: Kafka (KRaft), Apicurio Registry, MinIO, Redis and PostgreSQL on 127.0.0.1, state in PERMITFLOW_STACK_DIR',
  );
  stack
    .command('up')
    .description(
      'Start every service that is not running (downloading and building into PERMITFLOW_CACHE_DIR on first use), ' +
        'wait until each answers, then write the env file with endpoints and generated credentials. Safe to repeat.',
    )
    .action(() => runAction(() => stackUp(loadConfig())));
  stack
    .command('down')
    .description('Stop the processes `stack up` started (by their recorded pids, SIGKILL after a timeout). Data is kept unless --purge.')
    .option('--purge', 'also delete the stack folder: data, logs, credentials and the env file inside it')
    .action((opts: { purge?: boolean }) => runAction(() => stackDown(loadConfig(), { purge: opts.purge === true })));
  stack
    .command('status')
    .description('Show each service, its endpoint, pid and whether it answers now; exits non-zero if any does not.')
    .action(() => runAction(() => stackStatus(loadConfig())));
  stack
    .command('tools')
    .description('Build the operator tools the tests use (promtool, kubeconform, kustomize: pinned, with go install; the Kubernetes and KEDA schemas) into PERMITFLOW_CACHE_DIR unless already there, and install systemd-analyze and Chromium (for the plan report) if missing. Safe to repeat.')
    .action(() => runAction(() => stackTools(loadConfig())));
  return stack;
}
