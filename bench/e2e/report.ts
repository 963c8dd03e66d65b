/** The benchmark's one table and its details, as markdown (printed and written next to the JSON). */
import type { DrainResult } from './drain.ts';
import type { LiveResult } from './live.ts';
import type { CeleryResult, ProducerPerfResult } from './peers.ts';

export interface E2eResults {
  startedAt: string;
  rows: number;
  machine: { cpus: number; node: string };
  drains: DrainResult[];
  live: LiveResult[];
  celery: CeleryResult[];
  producerPerf?: ProducerPerfResult;
  failures: { what: string; error: string }[];
  /** Load average (1 min) at the end of each row. */
  loads: Record<string, number>;
}

const fmt = (n: number | undefined, digits = 0): string => (n === undefined || Number.isNaN(n) ? '–' : n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }));
const ratio = (a: number, b: number | undefined): string => (b ? `${(a / b).toFixed(2)}x` : '–');

export function renderMarkdown(r: E2eResults): string {
  const celeryBatch = r.celery.find((c) => c.intake === 'batch')?.decisionsPerSecond;
  const celeryMessage = r.celery.find((c) => c.intake === 'message')?.decisionsPerSecond;
  const ceiling = r.producerPerf?.recordsPerSecond;
  const out: string[] = [];
  out.push(`# bench/e2e, ${r.startedAt}`, '', `${r.rows.toLocaleString('en-US')} distinct applications per drain; ${r.machine.cpus} cores; Node ${r.machine.node}.`, '');
  out.push('| system | decisions/s | vs Celery batch | vs Celery message | efficiency | load avg |', '|---|---|---|---|---|---|');
  for (const d of r.drains) {
    const efficiency = ceiling ? ((d.decisionsPerSecond * d.recordsOutPerSubmission) / ceiling).toFixed(3) : '–';
    out.push(`| permitflow drain, ${d.layout === 'all' ? '`run all` (one process)' : 'one process per stage'} | ${fmt(d.decisionsPerSecond)} (${fmt(d.seconds, 1)} s) | ${ratio(d.decisionsPerSecond, celeryBatch)} | ${ratio(d.decisionsPerSecond, celeryMessage)} | ${efficiency} | ${d.loadAverage} |`);
  }
  for (const c of r.celery) out.push(`| the seed's design on Celery + Redis, ${c.intake === 'batch' ? 'one broker message per 500' : 'one broker message per submission'} | ${fmt(c.decisionsPerSecond)} (${fmt(c.seconds, 1)} s) | | | | ${r.loads[`celery-${c.intake}`] ?? '–'} |`);
  if (r.producerPerf) out.push(`| Kafka ProducerPerformance, 1 KB, acks=all, 6 partitions (records/s) | ${fmt(r.producerPerf.recordsPerSecond)} | | | | ${r.loads['producer-perf'] ?? '–'} |`);
  out.push('', 'Efficiency = decisions/s x records the stages produced per submission / ProducerPerformance records/s (changelog records and transaction markers not counted).');

  for (const d of r.drains) {
    out.push('', `## Drain, ${d.layout === 'all' ? '`run all`' : 'one process per stage'}`, '');
    out.push(`${fmt(d.decided)} decided, ${d.deadLettered} dead-lettered, ${fmt(d.seconds, 2)} s from the first received to the last decision; ${d.recordsOutPerSubmission} records produced per submission.`, '');
    out.push('| state | records | first (s) | last (s) |', '|---|---|---|---|');
    for (const s of d.spans) out.push(`| ${s.state} | ${fmt(s.records)} | ${s.firstAt} | ${s.lastAt} |`);
    out.push('', '| process | CPU s | CPU s per 1,000 | peak RSS MB | records per transaction |', '|---|---|---|---|---|');
    for (const p of d.processes) out.push(`| ${p.name} | ${p.cpuSeconds} | ${p.cpuSecondsPer1000} | ${p.peakRssMb} | ${p.recordsPerTransaction} |`);
    for (const [service, per1000] of Object.entries(d.stackCpuSecondsPer1000)) out.push(`| stack: ${service} | | ${per1000} | | |`);
    for (const p of d.processes) {
      if (!p.profile) continue;
      out.push('', `### Top self time: ${p.name} (idle ${p.profile.idle}% of the drain)`, '', '| share | self ms | function | where |', '|---|---|---|---|');
      for (const l of p.profile.top) out.push(`| ${l.share}% | ${fmt(l.selfMs)} | \`${l.fn}\` | ${l.where} |`);
    }
  }
  if (r.live.length > 0) {
    out.push('', '## Live: the intake under open-loop load, every stage running', '');
    out.push('| rate/s | s | sent | 202 | 503 | other | intake p99 ms | decided | e2e p50 s | e2e p99 s | e2e max s | max lag | sustainable | load avg |', '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
    for (const l of r.live) {
      const other = Object.entries(l.otherStatuses).map(([k, v]) => `${k}: ${v}`).join(', ') || '0';
      out.push(`| ${fmt(l.rate)} | ${l.seconds} | ${fmt(l.sent)} | ${fmt(l.accepted)} | ${fmt(l.shed503)} | ${other} | ${l.intakeP99Ms} | ${fmt(l.decided)} | ${l.endToEnd.p50} | ${l.endToEnd.p99} | ${l.endToEnd.max} | ${fmt(l.maxLag)} | ${l.sustainable ? 'yes' : 'no'} | ${l.loadAverage} |`);
    }
    const best = r.live.filter((l) => l.sustainable).map((l) => l.rate);
    out.push('', `Sustainable intake rate (every request 202, every submission decided, e2e p99 < 5 s): ${best.length ? `${fmt(Math.max(...best))}/s` : 'none of the rates tried'}.`);
  }
  if (r.failures.length > 0) out.push('', '## Failed rows', '', ...r.failures.map((f) => `- ${f.what}: ${f.error.split('\n')[0]}`));
  return `${out.join('\n')}\n`;
}
