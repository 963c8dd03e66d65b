/**
 * Where a process's CPU went: the top self-time functions of a V8 `.cpuprofile` (what
 * `node --cpu-prof` writes) within a time window, so start-up (module loading, group joins) is
 * left out. Sample times are on the monotonic clock, the one `process.hrtime` reads in any
 * process of the machine, so the benchmark can name the window from outside. Idle time is
 * reported apart; GC and `(program)` stay in the list, since they are part of the answer.
 */
import { existsSync, readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { REPO_ROOT } from '../../lib/config.ts';

interface CpuProfile {
  startTime: number;
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileLine {
  /** Share of the sampled time, percent. */
  share: number;
  selfMs: number;
  fn: string;
  where: string;
}

function location(url: string, line: number): string {
  if (!url) return '';
  const path = url.startsWith('file://') ? fileURLToPath(url) : url;
  const shown = path.startsWith('/') ? relative(REPO_ROOT, path).replace(/^node_modules\//, '') : path;
  return `${shown}:${line + 1}`;
}

export interface ProfileSummary {
  /** Share of the window the process was idle (waiting on I/O), percent. */
  idle: number;
  top: ProfileLine[];
}

/** Microseconds on the monotonic clock, as CPU profiles stamp their samples. */
export const monotonicUs = (): number => Number(process.hrtime.bigint() / 1000n);

export function topSelfTime(file: string, count: number, window: { fromUs: number; toUs: number }): ProfileSummary | undefined {
  if (!existsSync(file)) return undefined;
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<string, { fn: string; where: string; us: number }>();
  let total = 0;
  let idle = 0;
  let at = profile.startTime;
  profile.samples.forEach((id, i) => {
    const node = byId.get(id);
    const delta = profile.timeDeltas[i] ?? 0;
    at += delta;
    if (!node || delta < 0 || at < window.fromUs || at > window.toUs) return;
    total += delta;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === '(idle)') {
      idle += delta;
      return;
    }
    const key = `${functionName}@${url}:${lineNumber}`;
    const entry = selfUs.get(key) ?? { fn: functionName || '(anonymous)', where: location(url, lineNumber), us: 0 };
    entry.us += delta;
    selfUs.set(key, entry);
  });
  const top = [...selfUs.values()]
    .sort((a, b) => b.us - a.us)
    .slice(0, count)
    .map((e) => ({ share: Number(((100 * e.us) / total).toFixed(1)), selfMs: Math.round(e.us / 1000), fn: e.fn, where: e.where }));
  return { idle: Number(((100 * idle) / total).toFixed(1)), top };
}
