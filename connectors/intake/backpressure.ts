/**
 * Backpressure from consumer lag. Every few seconds the monitor reads the lag of the watched
 * consumer groups and their drain rate; while any group's lag is above the threshold, new
 * submissions get 503 with a Retry-After that says when that group will be back under it:
 *
 *   Retry-After = clamp(ceil((lag - threshold) / drainRate), 1, max)   (max when not draining)
 *
 * taking the largest over groups above the threshold. The request path only reads the last
 * decision (no I/O). If lag cannot be read, the last decision stands; readiness reports Kafka.
 */
import { drainRate, fetchGroupLag, trimSamples, type GroupLag, type LagAdmin, type PositionSample } from '../../lib/lag.ts';
import type { Logger } from '../../lib/logger.ts';

export type Pressure = { shed: false } | { shed: true; retryAfterS: number; group: string; lag: number };

export interface BackpressureSignal {
  pressure(): Pressure;
}

export interface LagTarget {
  group: string;
  topics: readonly string[];
}

export interface GroupState {
  group: string;
  lag: number;
  drainPerS: number;
}

export interface LagMonitor extends BackpressureSignal {
  /** Reads lag once and updates the decision (the timer calls it; tests may too). */
  poll(): Promise<void>;
  start(): void;
  stop(): void;
  /** Epoch ms of the last successful read, for readiness. */
  lastSuccessAt(): number | undefined;
  groups(): GroupState[];
}

export function retryAfterSeconds(lag: number, threshold: number, drainPerS: number, maxS: number): number {
  if (drainPerS <= 0) return maxS;
  return Math.min(maxS, Math.max(1, Math.ceil((lag - threshold) / drainPerS)));
}

/** The decision for the groups' current lag and drain. */
export function pressureOf(groups: readonly GroupState[], threshold: number, maxS: number): Pressure {
  let worst: Pressure = { shed: false };
  for (const g of groups) {
    if (g.lag <= threshold) continue;
    const retryAfterS = retryAfterSeconds(g.lag, threshold, g.drainPerS, maxS);
    if (!worst.shed || retryAfterS > worst.retryAfterS) worst = { shed: true, retryAfterS, group: g.group, lag: g.lag };
  }
  return worst;
}

export interface LagMonitorOptions {
  admin: LagAdmin;
  targets: readonly LagTarget[];
  threshold: number;
  pollMs: number;
  retryAfterMaxS: number;
  logger: Logger;
  clock?: () => number;
  /** Drain rate is measured over this window (default: 10 polls, at least 30 s). */
  drainWindowMs?: number;
  onPoll?: (lags: GroupLag[], states: GroupState[]) => void;
}

export function createLagMonitor(options: LagMonitorOptions): LagMonitor {
  const clock = options.clock ?? Date.now;
  const windowMs = options.drainWindowMs ?? Math.max(30_000, 10 * options.pollMs);
  const samples = new Map<string, PositionSample[]>();
  let states: GroupState[] = [];
  let decision: Pressure = { shed: false };
  let lastSuccess: number | undefined;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let failing = false;

  async function poll(): Promise<void> {
    const lags = await Promise.all(options.targets.map((t) => fetchGroupLag(options.admin, t.group, t.topics)));
    const now = clock();
    states = lags.map((l) => {
      const kept = trimSamples([...(samples.get(l.group) ?? []), { at: now, position: l.position }], now, windowMs);
      samples.set(l.group, kept);
      return { group: l.group, lag: l.lag, drainPerS: drainRate(kept) };
    });
    const next = pressureOf(states, options.threshold, options.retryAfterMaxS);
    if (next.shed !== decision.shed) {
      options.logger.warn({ backpressure: next.shed, groups: states }, next.shed ? 'lag above threshold: shedding submissions' : 'lag back under threshold: accepting submissions');
    }
    decision = next;
    lastSuccess = now;
    options.onPoll?.(lags, states);
  }

  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      poll()
        .then(() => {
          if (failing) options.logger.info('consumer lag readable again');
          failing = false;
        })
        .catch((err: unknown) => {
          // Logged once per outage, not every few seconds.
          if (!failing) options.logger.warn({ err }, 'cannot read consumer lag; keeping the last backpressure decision');
          failing = true;
        })
        .finally(schedule);
    }, options.pollMs);
    timer.unref();
  };

  return {
    poll,
    start: schedule,
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
    pressure: () => decision,
    lastSuccessAt: () => lastSuccess,
    groups: () => states,
  };
}
