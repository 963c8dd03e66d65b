/**
 * Process plumbing of the local stack: detached servers with pid files and log files, stopping
 * them (and everything they forked) by pid, deadlines, log tails and port checks. Linux only: it
 * reads /proc, which is what tells a live process from a zombie or a recycled pid.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { StackError } from './service.ts';
import type { StackPaths } from './service.ts';

export { sleep };

export const logFile = (paths: StackPaths, name: string): string => join(paths.logs, `${name}.log`);
export const pidFile = (paths: StackPaths, name: string): string => join(paths.pids, `${name}.pid`);

export function readPid(paths: StackPaths, name: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(pidFile(paths, name), 'utf8').trim(), 10);
    return Number.isInteger(pid) && pid > 1 ? pid : undefined;
  } catch {
    return undefined;
  }
}

export function removePid(paths: StackPaths, name: string): void {
  rmSync(pidFile(paths, name), { force: true });
}

interface ProcStat {
  state: string;
  ppid: number;
  pgrp: number;
}

function procStat(pid: number): ProcStat | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0] ?? '?', ppid: Number(fields[1]), pgrp: Number(fields[2]) };
  } catch {
    return undefined;
  }
}

/** CPU seconds (user + system) a process has used so far: utime + stime, in clock ticks of 10 ms (USER_HZ). */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The fields after "pid (comm) ": comm may hold spaces and parentheses.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** A process's peak resident set so far (VmHWM), in MB; 0 when /proc does not say. */
export function peakRssMb(pid: number): number {
  const kb = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return kb ? Number(kb) / 1024 : 0;
}

/** Running (not a zombie) process. */
export function isAlive(pid: number): boolean {
  const stat = procStat(pid);
  return stat !== undefined && stat.state !== 'Z' && stat.state !== 'X';
}

/** Command line of a live process, arguments joined by spaces; undefined when it is gone. */
export function cmdline(pid: number): string | undefined {
  if (!isAlive(pid)) return undefined;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
  } catch {
    return undefined;
  }
}

function liveProcesses(): Map<number, ProcStat> {
  const all = new Map<number, ProcStat>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = procStat(Number(entry));
    if (stat && stat.state !== 'Z' && stat.state !== 'X') all.set(Number(entry), stat);
  }
  return all;
}

/** Live members of a process group. */
export function groupMembers(pgid: number): number[] {
  return [...liveProcesses()].filter(([, stat]) => stat.pgrp === pgid).map(([pid]) => pid);
}

/** Live descendants of a process, in whatever group (PostgreSQL backends start their own sessions). */
export function descendants(pid: number): number[] {
  const all = liveProcesses();
  const found: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const parent = queue.shift();
    for (const [child, stat] of all) {
      if (stat.ppid === parent && !found.includes(child)) {
        found.push(child);
        queue.push(child);
      }
    }
  }
  return found;
}

/** Environment of a spawned JVM or server: only what it needs, so no app secret leaks into it. */
export function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const keep = ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR', 'JAVA_HOME', 'USER'];
  const env: NodeJS.ProcessEnv = {};
  for (const key of keep) if (process.env[key] !== undefined) env[key] = process.env[key];
  return { ...env, ...extra };
}

export interface SpawnSpec {
  paths: StackPaths;
  name: string;
  command: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  cwd?: string;
}

/**
 * Starts a long-running server that outlives this command: its own session (so `down` can signal
 * its whole process group), stdout and stderr appended to logs/<name>.log (the previous run's log
 * is kept as <name>.log.1), pid in pids/<name>.pid.
 */
export function spawnDetached(spec: SpawnSpec): number {
  mkdirSync(spec.paths.logs, { recursive: true });
  mkdirSync(spec.paths.pids, { recursive: true });
  const log = logFile(spec.paths, spec.name);
  if (existsSync(log) && statSync(log).size > 0) renameSync(log, `${log}.1`);
  const fd = openSync(log, 'a', 0o600);
  try {
    const child = spawn(spec.command, spec.args, { detached: true, stdio: ['ignore', fd, fd], env: spec.env, cwd: spec.cwd ?? spec.paths.dir });
    child.on('error', () => {}); // reported below through the missing pid
    if (child.pid === undefined) throw new StackError(`${spec.name}: could not run ${spec.command}`);
    child.unref();
    writeFileSync(pidFile(spec.paths, spec.name), `${child.pid}\n`);
    return child.pid;
  } finally {
    closeSync(fd);
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

/**
 * Stops a server started by spawnDetached: `signal` to its process group, then SIGKILL after
 * `timeoutMs`, and returns only once neither it, nor its group, nor any process it forked is left
 * (Redis's save fork, PostgreSQL backends, which sit in sessions of their own).
 */
export async function stopProcess(pid: number, signal: NodeJS.Signals, timeoutMs: number): Promise<'stopped' | 'killed'> {
  const family = new Set([pid, ...groupMembers(pid), ...descendants(pid)]);
  const left = (): number[] => [...new Set([...family, ...groupMembers(pid)])].filter(isAlive);
  signalGroup(pid, signal);
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (left().length === 0) return 'stopped';
    await sleep(100);
  }
  signalGroup(pid, 'SIGKILL');
  for (const member of left()) signalGroup(member, 'SIGKILL');
  const killDeadline = Date.now() + 5000;
  while (Date.now() < killDeadline) {
    if (left().length === 0) return 'killed';
    await sleep(100);
  }
  throw new StackError(`pid ${pid} survived SIGKILL (left: ${left().join(', ')})`);
}

export interface WaitOptions {
  deadline: number;
  intervalMs?: number;
  /** Checked before each attempt: a reason to give up early (e.g. the process exited). */
  giveUp?: () => string | undefined;
}

/** Retries `check` until it resolves; on the deadline rejects with the last failure. */
export async function waitUntil(check: () => Promise<void>, options: WaitOptions): Promise<void> {
  let last = 'not checked yet';
  for (;;) {
    const reason = options.giveUp?.();
    if (reason) throw new Error(reason);
    try {
      await check();
      return;
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() >= options.deadline) throw new Error(`not ready in time (last check: ${last})`);
    await sleep(Math.min(options.intervalMs ?? 250, Math.max(0, options.deadline - Date.now())));
  }
}

/** Last `lines` lines of a log file (reads at most its last 64 KB). */
export function tailLog(file: string, lines = 40): string[] {
  let fd: number | undefined;
  try {
    fd = openSync(file, 'r');
    const size = statSync(file).size;
    const length = Math.min(size, 64 * 1024);
    const buffer = Buffer.alloc(length);
    readSync(fd, buffer, 0, length, size - length);
    return buffer.toString('utf8').split('\n').filter((l) => l.trim() !== '').slice(-lines);
  } catch {
    return [`(no log at ${file})`];
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Whether something already listens on 127.0.0.1:port (or on the wildcard address). */
export function portInUse(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(true));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(false)));
  });
}

export interface RunOptions {
  /** What this step does, for error messages ("downloading Kafka jars"). */
  what: string;
  timeoutMs: number;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Output is appended here; its tail is shown when the step fails. */
  log: string;
}

/** Runs a one-off tool (mvn, go, tar, initdb, apt-get) to completion, with a deadline. */
export function run(command: string, args: string[], options: RunOptions): Promise<void> {
  const fd = openSync(options.log, 'a', 0o600);
  writeFileSync(fd, `\n$ ${command} ${args.join(' ')}\n`);
  return new Promise<void>((resolve, reject) => {
    const child = spawn(command, args, { detached: true, stdio: ['ignore', fd, fd], env: options.env ?? process.env, cwd: options.cwd });
    closeSync(fd);
    const timer = setTimeout(() => {
      if (child.pid) signalGroup(child.pid, 'SIGKILL');
      reject(new StackError(`${options.what}: gave up after ${Math.round(options.timeoutMs / 1000)} s (${command})`, tailLog(options.log)));
    }, options.timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(new StackError(`${options.what}: cannot run ${command} (${err.message})`));
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new StackError(`${options.what} failed (${command} exited with ${code ?? signal}); output in ${options.log}:`, tailLog(options.log)));
    });
  });
}
