/**
 * The `plan` section of `permitflow status --json`: the last plan written to the report folder
 * (`permitflow plan` writes `<PERMITFLOW_STACK_DIR>/plan/plan.json` by default), summed up so a
 * dashboard or a script sees the recommended layout next to the live one.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Plan } from './plan.ts';
import { recommendationLines } from './report.ts';

export type PlanSummary =
  | { available: false; reason: string }
  | {
      available: true;
      generatedAt: string;
      report: string;
      history: { origin: string; from: string; to: string; total: number };
      peak: Plan['peak'];
      instances: Record<string, number>;
      partitions: number;
      repartition: boolean;
      window: Plan['recommendation']['window'];
      intake: { lagThreshold: number; lagHardLimit: number; rateLimitPerClient: number };
      meetsTarget: boolean;
      impossible: string[];
      backtest: { method: Plan['backtest']['method']; naive: Plan['backtest']['naive'] };
      summary: string[];
    };

export function readPlanSummary(dir: string): PlanSummary {
  const file = join(dir, 'plan.json');
  let plan: Plan;
  try {
    plan = JSON.parse(readFileSync(file, 'utf8')) as Plan;
  } catch (err) {
    const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
    return { available: false, reason: missing ? `no plan in ${dir}: run \`permitflow plan\`` : `${file}: unreadable (${(err as Error).message})` };
  }
  const r = plan.recommendation;
  return {
    available: true,
    generatedAt: plan.generatedAt,
    report: join(dir, 'report.html'),
    history: { origin: plan.history.origin, from: plan.history.days[0]!, to: plan.history.days.at(-1)!, total: plan.history.total },
    peak: plan.peak,
    instances: Object.fromEntries(r.stages.map((s) => [s.stage, s.instances])),
    partitions: r.partitions,
    repartition: r.repartition,
    window: r.window,
    intake: { lagThreshold: r.lagThreshold, lagHardLimit: r.lagHardLimit, rateLimitPerClient: r.rateLimitPerClient },
    meetsTarget: r.meetsTarget,
    impossible: r.impossible,
    backtest: { method: plan.backtest.method, naive: plan.backtest.naive },
    summary: recommendationLines(plan),
  };
}
