/**
 * `make chaos`: every scenario of scenarios.ts against the private chaos stack (started here,
 * stopped at the end unless --keep-stack), then the table (scenario x lost, duplicated, stuck,
 * recovery s), printed and written to bench/results/chaos-<timestamp>.{md,json}.
 *
 *   node --import tsx test/chaos/run.ts [--submissions 10000] [--only broker] [--keep-stack] [--stage-logs <dir>]
 *
 * 10,000 submissions by default: fewer drain before the slower faults (a service restart) end.
 *
 * Exit code 1 when any scenario lost, duplicated or left stuck a submission, or took 60 s or
 * more to recover.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { REPO_ROOT } from '../../lib/config.ts';
import { formatTable, runScenario, type ScenarioResult } from './harness.ts';
import { allScenarios } from './scenarios.ts';
import { chaosStackDown, chaosStackUp, useChaosStack } from './stack.ts';
import { killAllStages } from './workload.ts';

const RECOVERY_GOAL_S = 60;

const { values } = parseArgs({
  options: { submissions: { type: 'string', default: '10000' }, only: { type: 'string' }, 'keep-stack': { type: 'boolean', default: false }, 'stage-logs': { type: 'string' } },
});

useChaosStack();
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    killAllStages();
    process.exit(130);
  });
}
const log = (line: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${line}`);
log('starting the private chaos stack');
await chaosStackUp();
const results: ScenarioResult[] = [];
try {
  const scenarios = allScenarios().filter((s) => !values.only || s.name.toLowerCase().includes(values.only.toLowerCase()));
  for (const scenario of scenarios) {
    log(`scenario: ${scenario.name}`);
    try {
      const result = await runScenario(scenario, { submissions: Number(values.submissions), log, ...(values['stage-logs'] && { stageLogDir: values['stage-logs'] }) });
      results.push(result);
      for (const note of result.notes.slice(0, 10)) log(`  ${note}`);
    } catch (err) {
      log(`  failed to run: ${(err as Error).message}`);
      results.push({ scenario: scenario.name, submissions: Number(values.submissions), lost: -1, duplicated: -1, stuck: -1, recoverySeconds: null, drainSeconds: null, notes: [(err as Error).message] });
    }
    // A scenario that failed half-way may have left a service down: the next one needs it.
    await chaosStackUp();
  }
} finally {
  if (!values['keep-stack']) await chaosStackDown().catch((err: unknown) => log(`stack down failed: ${(err as Error).message}`));
}

const table = formatTable(results);
console.log(`\n${table}\n`);
const dir = join(REPO_ROOT, 'bench/results');
mkdirSync(dir, { recursive: true });
const stamp = new Date().toISOString().replace(/[:.]/g, '-');
writeFileSync(join(dir, `chaos-${stamp}.md`), `# chaos ${new Date().toISOString()}\n\n${table}\n`);
writeFileSync(join(dir, `chaos-${stamp}.json`), JSON.stringify(results, null, 2));
console.log(`written to bench/results/chaos-${stamp}.{md,json}`);
const failed = results.filter((r) => r.lost !== 0 || r.duplicated !== 0 || r.stuck !== 0 || r.recoverySeconds === null || r.recoverySeconds >= RECOVERY_GOAL_S);
process.exitCode = failed.length > 0 ? 1 : 0;
