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

/**
 * Who is shed while lag is above the threshold (issue 14: one client's surge shed every client).
 * Each intake instance counts the submissions it accepted per client over the last `windowMs`;
 * under pressure a client whose share of them is at least its fair share (1 / active clients)
 * is shed, and the others pass, until lag passes the hard limit and every client is shed. A shed
 * client's share decays while it is refused, so it gets back in at about its fair share.
 */
export interface FairShare {
  accepted(client: string): void;
  /** The client's share of the recent accepted submissions (0 when none), and how many clients had some. */
  shareOf(client: string): { share: number; activeClients: number };
}

export function createFairShare(options: { windowMs: number; bucketMs?: number; clock?: () => number }): FairShare {
  const clock = options.clock ?? Date.now;
  const bucketMs = options.bucketMs ?? 1000;
  const buckets = Math.max(1, Math.ceil(options.windowMs / bucketMs));
  // Per client: a ring of per-bucket counts, and the bucket number each slot holds.
  const counts = new Map<string, { slots: number[]; epochs: number[] }>();
  const recent = (c: { slots: number[]; epochs: number[] }, epoch: number) => c.slots.reduce((sum, n, i) => (epoch - c.epochs[i]! < buckets ? sum + n : sum), 0);
  return {
    accepted(client) {
      const epoch = Math.floor(clock() / bucketMs);
      let c = counts.get(client);
      if (!c) counts.set(client, (c = { slots: new Array<number>(buckets).fill(0), epochs: new Array<number>(buckets).fill(-Infinity) }));
      const slot = epoch % buckets;
      if (c.epochs[slot] !== epoch) {
        c.epochs[slot] = epoch;
        c.slots[slot] = 0;
      }
      c.slots[slot]!++;
    },
    shareOf(client) {
      const epoch = Math.floor(clock() / bucketMs);
      let total = 0;
      let own = 0;
      let activeClients = 0;
      for (const [name, c] of counts) {
        const n = recent(c, epoch);
        if (n === 0) {
          counts.delete(name);
          continue;
        }
        total += n;
        activeClients++;
        if (name === client) own = n;
      }
      return { share: total === 0 ? 0 : own / total, activeClients };
    },
  };
}

export type ShedDecision = { shed: false } | { shed: true; retryAfterS: number; lag: number; reason: 'hard-limit' | 'fair-share' };

/** Whether `client` is shed under `pressure`: all above the hard limit, else those at or above their fair share. */
export function shedDecision(pressure: Pressure, client: { share: number; activeClients: number }, hardLimit: number): ShedDecision {
  if (!pressure.shed) return { shed: false };
  const base = { shed: true as const, retryAfterS: pressure.retryAfterS, lag: pressure.lag };
  if (pressure.lag > hardLimit) return { ...base, reason: 'hard-limit' };
  // A tiny tolerance: two clients at exactly half each are both at their fair share.
  if (client.activeClients > 0 && client.share * client.activeClients >= 1 - 1e-9) return { ...base, reason: 'fair-share' };
  return { shed: false };
}
