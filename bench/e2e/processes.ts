/**
 * The processes under test: `permitflow run <stage>` children, each sampled from /proc (CPU
 * seconds from utime+stime, peak RSS from VmHWM) and, with profiling on, started with
 * `--cpu-prof` so each writes a V8 CPU profile when it stops.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { REPO_ROOT } from '../../lib/config.ts';
import { cpuSeconds, descendants, peakRssMb, readPid } from '../../ops/stack/proc.ts';
import type { StackPaths } from '../../ops/stack/service.ts';


export interface StageProcess {
  name: string;
  child: ChildProcess;
  metricsPort: number;
  /** CPU seconds (user + system) so far. */
  cpuSeconds(): number;
  /** Peak resident set so far, in MB. */
  peakRssMb(): number;
  /** The last lines it printed (for a failure message). */
  tail(): string;
}

export interface SpawnOptions {
  env: Record<string, string>;
  metricsPort: number;
  /** Folder for `--cpu-prof` output; no profile when unset. */
  profileDir?: string;
  /** Arguments after `bin/permitflow.js`; default `run <name>`. */
  args?: string[];
}

export function spawnStage(name: string, options: SpawnOptions): StageProcess {
  const profile = options.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${options.profileDir}`, `--cpu-prof-name=${name}.cpuprofile`] : [];
  const child = spawn(process.execPath, [...profile, join(REPO_ROOT, 'bin/permitflow.js'), ...(options.args ?? ['run', name])], {
    // Launched as deployed (deploy/systemd/permitflow@.service, the Dockerfile): young generation capped unless NODE_OPTIONS says otherwise.
    env: { NODE_OPTIONS: '--max-semi-space-size=16', ...process.env, ...options.env, METRICS_PORT: String(options.metricsPort), PERMITFLOW_WORKER_ID: `bench-${name}` },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const keep = (d: Buffer) => {
    lines.push(...d.toString().split('\n').filter(Boolean));
    if (lines.length > 40) lines.splice(0, lines.length - 40);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  let lastCpu = 0;
  let lastRss = 0;
  return {
    name,
    child,
    metricsPort: options.metricsPort,
    cpuSeconds() {
      if (child.exitCode === null && child.pid) lastCpu = cpuSeconds(child.pid);
      return lastCpu;
    },
    peakRssMb() {
      if (child.exitCode === null && child.pid) lastRss = peakRssMb(child.pid);
      return lastRss;
    },
    tail: () => lines.join('\n'),
  };
}

/** SIGTERM (a graceful stop writes the CPU profile), SIGKILL after the grace period. */
export async function stopStages(stages: StageProcess[], graceMs = 30_000): Promise<void> {
  await Promise.all(
    stages.map(async (s) => {
      if (s.child.exitCode !== null || s.child.signalCode !== null) return;
      const exited = once(s.child, 'exit');
      s.child.kill('SIGTERM');
      const stopped = await Promise.race([exited.then(() => true), sleep(graceMs).then(() => false)]);
      if (!stopped) {
        console.error(`bench e2e: ${s.name} did not stop within ${graceMs} ms of SIGTERM; killed`);
        s.child.kill('SIGKILL');
        await exited;
      }
    }),
  );
}

/** Fails fast when a stage exits while the benchmark still needs it. */
export function watchExits(stages: StageProcess[]): { check(): void } {
  return {
    check() {
      const dead = stages.find((s) => s.child.exitCode !== null || s.child.signalCode !== null);
      if (dead) throw new Error(`${dead.name} exited (${dead.child.exitCode ?? dead.child.signalCode}) during the run; its last lines:\n${dead.tail()}`);
    },
  };
}

/** CPU seconds used so far by the local stack's services (Kafka, registry, MinIO, Redis, PostgreSQL with its backends). */
export function stackCpuSeconds(paths: StackPaths): Record<string, number> {
  const out: Record<string, number> = {};
  for (const service of ['kafka', 'registry', 'minio', 'redis', 'postgres']) {
    const pid = readPid(paths, service);
    if (!pid) continue;
    out[service] = [pid, ...descendants(pid)].reduce((sum, p) => {
      try {
        return sum + cpuSeconds(p);
      } catch {
        return sum; // gone between the listing and the read
      }
    }, 0);
  }
  return out;
}
