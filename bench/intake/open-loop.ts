/**
 * An open-loop load generator: requests are scheduled at an even pace (rate per second) and
 * sent when due, whatever the server's state, and each latency is measured from the request's
 * scheduled time, so a stall counts against every request it delays (no coordinated omission).
 *
 * Used for the fixed-rate scenarios because autocannon's `overallRate` sends each connection's
 * share of a second as a back-to-back burst at the top of the second: 2,000 requests/s arrive as
 * one burst per second, which measures burst queueing rather than a steady rate. Connections are
 * opened during a warm-up at the same pace: a storm of new connections is the client's cost.
 */
import { Agent, request } from 'node:http';
import { performance } from 'node:perf_hooks';

export interface OpenLoopOptions {
  url: string;
  headers: Record<string, string>;
  body: () => string;
  rate: number;
  seconds: number;
  /** Sent at the same pace first and not recorded: opening the connections is not the server's latency. */
  warmupSeconds?: number;
  maxSockets?: number;
}

export interface OpenLoopResult {
  rps: number;
  /** Milliseconds from scheduled send to complete response, all statuses. */
  p50: number;
  p90: number;
  p99: number;
  max: number;
  statuses: Record<string, number>;
  errors: number;
  /** p99 (ms) of the requests scheduled in each second of the measured run: where a tail sits in time. */
  p99BySecond: number[];
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;

export async function openLoop(options: OpenLoopOptions): Promise<OpenLoopResult> {
  // Idle sockets close before the server's keep-alive timeout (5 s), so none is reused as the server closes it.
  const agent = new Agent({ keepAlive: true, maxSockets: options.maxSockets ?? 64, timeout: 4000 });
  const warmup = Math.round(options.rate * (options.warmupSeconds ?? 2));
  const total = warmup + Math.round(options.rate * options.seconds);
  const intervalMs = 1000 / options.rate;
  const latencies: number[] = [];
  const bySecond: number[][] = [];
  const statuses: Record<string, number> = {};
  let errors = 0;
  let done = 0;
  const start = performance.now();
  let measuredFrom = 0;

  await new Promise<void>((resolve) => {
    const finish = () => {
      done++;
      if (done === total) resolve();
    };
    const fire = (index: number, scheduled: number) => {
      const body = options.body();
      const measured = index >= warmup;
      const req = request(options.url, { method: 'POST', agent, headers: { ...options.headers, 'content-length': Buffer.byteLength(body) } }, (res) => {
        res.resume();
        res.on('end', () => {
          if (measured) {
            const latency = performance.now() - scheduled;
            latencies.push(latency);
            (bySecond[Math.floor((index - warmup) / options.rate)] ??= []).push(latency);
            statuses[String(res.statusCode)] = (statuses[String(res.statusCode)] ?? 0) + 1;
          }
          finish();
        });
      });
      req.on('error', () => {
        if (measured) errors++;
        finish();
      });
      req.end(body);
    };
    let next = 0;
    const tick = setInterval(() => {
      const now = performance.now();
      while (next < total && start + next * intervalMs <= now) {
        if (next === warmup) measuredFrom = now;
        fire(next, start + next * intervalMs);
        next++;
      }
      if (next >= total) clearInterval(tick);
    }, 1);
  });
  const elapsedS = (performance.now() - measuredFrom) / 1000;
  agent.destroy();
  const sorted = latencies.sort((a, b) => a - b);
  const round = (ms: number) => Math.round(ms * 10) / 10;
  return {
    rps: Math.round(latencies.length / elapsedS),
    p50: round(percentile(sorted, 50)),
    p90: round(percentile(sorted, 90)),
    p99: round(percentile(sorted, 99)),
    max: round(sorted.at(-1) ?? 0),
    statuses,
    errors,
    p99BySecond: bySecond.map((l) => round(percentile(l.sort((a, b) => a - b), 99))),
  };
}
