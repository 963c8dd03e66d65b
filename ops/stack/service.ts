/**
 * The shape every service of the local stack has, so `up`, `down` and `status` treat Kafka,
 * the registry, MinIO, Redis and PostgreSQL alike.
 */
import { chmodSync, lstatSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../../lib/config.ts';
import type { Secrets } from './secrets.ts';

/** An operator-facing failure: the message says what is wrong and what to do. */
export class StackError extends Error {
  override readonly name = 'StackError';
  constructor(
    message: string,
    /** Lines to print after the message, e.g. the tail of a log. */
    readonly details: string[] = [],
  ) {
    super(message);
  }
}

export interface StackPaths {
  /** The stack folder: data, logs, pids, secrets. */
  dir: string;
  logs: string;
  pids: string;
  /** Downloads and builds shared by every stack folder on the machine. */
  cache: string;
}

export interface StackContext {
  config: Config;
  paths: StackPaths;
  secrets: Secrets;
  /** Prints one progress line for a service. */
  say(service: string, message: string): void;
}

export interface Service {
  readonly name: string;
  /** Where clients reach it, as printed by `up` and `status`. */
  readonly endpoint: string;
  /** Every port it listens on, checked free before a start. */
  readonly ports: readonly number[];
  /** Services that must be ready before this one starts. */
  readonly after: readonly string[];
  /** Signal for a graceful stop, and how long to wait before SIGKILL. */
  readonly stopSignal: NodeJS.Signals;
  readonly stopTimeoutMs: number;
  /** Whether a live process's command line is this service of this stack (pids get recycled). */
  owns(cmdline: string): boolean;
  /** Fetches, builds and initialises what start() needs; idempotent and fast once done. */
  prepare(): Promise<void>;
  /** Spawns the server detached (see spawnDetached) and returns its pid. */
  start(): Promise<number>;
  /** One readiness check that really talks to the service; rejects with the reason. */
  probe(): Promise<void>;
  /** Idempotent set-up once ready (buckets, roles, users). */
  configure(): Promise<void>;
  /** Variables the service contributes to the env file. */
  env(): Record<string, string>;
}

export function stackPaths(config: Config): StackPaths {
  const dir = config.stack.dir;
  return { dir, logs: join(dir, 'logs'), pids: join(dir, 'pids'), cache: config.stack.cacheDir };
}

/**
 * Creates the stack's data, log and pid folders, one per service, readable by their owner only
 * (0700: they hold databases, Kafka logs and objects); tightens folders an older `up` made with
 * the default umask. A symlink in their place is refused: data would go wherever it points.
 */
export function prepareStackDirs(paths: StackPaths, serviceNames: readonly string[]): void {
  for (const dir of [paths.logs, paths.pids, ...serviceNames.map((name) => join(paths.dir, name))]) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const stats = lstatSync(dir);
    if (!stats.isDirectory()) throw new StackError(`${dir} is not a folder (${stats.isSymbolicLink() ? 'a symbolic link' : 'a file'}); remove it and run \`stack up\` again`);
    if ((stats.mode & 0o777) !== 0o700) chmodSync(dir, 0o700);
  }
}

/** Loopback host every service binds to. */
export const HOST = '127.0.0.1';
