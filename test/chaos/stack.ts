/**
 * The chaos suite's private local stack: its own folder and ports, so killing its broker never
 * touches the shared stack other tests use. Started and stopped with `permitflow stack up/down`;
 * a killed or stopped service is brought back by `stack up`, which starts what is not running.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { REPO_ROOT } from '../../lib/config.ts';
import { isAlive, readPid } from '../../ops/stack/proc.ts';

const run = promisify(execFile);

/** Where the private stack lives and listens (override the folder with PERMITFLOW_CHAOS_STACK_DIR). */
export const CHAOS_STACK_ENV: Record<string, string> = {
  PERMITFLOW_STACK_DIR: process.env.PERMITFLOW_CHAOS_STACK_DIR ?? '/tmp/permitflow-chaos',
  PERMITFLOW_KAFKA_PORT: '29092',
  PERMITFLOW_KAFKA_CONTROLLER_PORT: '29093',
  PERMITFLOW_REGISTRY_PORT: '28081',
  PERMITFLOW_MINIO_PORT: '29000',
  PERMITFLOW_MINIO_CONSOLE_PORT: '29001',
  PERMITFLOW_REDIS_PORT: '26380', // not 26379: the Celery peer's private Redis (bench/e2e) defaults to it
  PERMITFLOW_POSTGRES_PORT: '25432',
};

export const CHAOS_KAFKA = { host: '127.0.0.1', port: Number(CHAOS_STACK_ENV.PERMITFLOW_KAFKA_PORT) };

/** Endpoint variables a caller's environment may carry for the shared stack; they would win over the chaos stack's env file. */
const SHARED_ENDPOINTS = ['KAFKA_BROKERS', 'SCHEMA_REGISTRY_URL', 'S3_ENDPOINT', 'S3_ACCESS_KEY_ID', 'S3_SECRET_ACCESS_KEY', 'REDIS_URL', 'DATABASE_URL', 'PERMITFLOW_ENV_FILE'];

/** Points this process (and the children it spawns) at the private stack. */
export function useChaosStack(): void {
  for (const name of SHARED_ENDPOINTS) delete process.env[name];
  Object.assign(process.env, CHAOS_STACK_ENV);
}

async function stack(command: 'up' | 'down'): Promise<void> {
  try {
    await run(process.execPath, [join(REPO_ROOT, 'bin/permitflow.js'), 'stack', command], { env: { ...process.env, ...CHAOS_STACK_ENV }, timeout: 600_000 });
  } catch (err) {
    const { stdout, stderr } = err as { stdout?: string; stderr?: string };
    throw new Error(`chaos stack ${command} failed:\n${stdout ?? ''}${stderr ?? ''}`, { cause: err });
  }
}

export const chaosStackUp = (): Promise<void> => stack('up');
export const chaosStackDown = (): Promise<void> => stack('down');

export type ServiceName = 'kafka' | 'postgres' | 'redis' | 'minio';

export function servicePid(service: ServiceName): number {
  const pid = readPid({ dir: CHAOS_STACK_ENV.PERMITFLOW_STACK_DIR!, logs: '', pids: join(CHAOS_STACK_ENV.PERMITFLOW_STACK_DIR!, 'pids'), cache: '' }, service);
  if (pid === undefined || !isAlive(pid)) throw new Error(`chaos stack: ${service} is not running`);
  return pid;
}

export function signalService(service: ServiceName, signal: NodeJS.Signals): void {
  process.kill(servicePid(service), signal);
}

/** Kills a service with `signal`, waits until it is gone, keeps it down for `downMs`, then starts it again. */
export async function restartService(service: ServiceName, signal: NodeJS.Signals, downMs: number): Promise<void> {
  const pid = servicePid(service);
  process.kill(pid, signal);
  const deadline = Date.now() + 60_000;
  while (isAlive(pid)) {
    if (Date.now() > deadline) throw new Error(`chaos stack: ${service} (pid ${pid}) did not exit after ${signal}`);
    await sleep(100);
  }
  await sleep(downMs);
  await chaosStackUp();
}
