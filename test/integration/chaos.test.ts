/**
 * The short chaos run of `make test` (the whole suite is `make chaos`): on the private chaos
 * stack (its own folder and ports: the broker is killed here while other tests use the shared
 * one), 400 submissions flow through every stage, as processes, while the broker is SIGKILLed
 * and restarted, and while each stage is SIGKILLed twice at random points. Each run must lose,
 * duplicate and leave stuck nothing, and decide again within 60 s of the fault's end.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatTable, runScenario, type ScenarioResult } from '../chaos/harness.ts';
import { brokerKill, stageKills } from '../chaos/scenarios.ts';
import { chaosStackDown, chaosStackUp, useChaosStack } from '../chaos/stack.ts';

const SUBMISSIONS = 400;

test('chaos, short: broker SIGKILL and stage SIGKILLs lose, duplicate and strand nothing', { timeout: 900_000 }, async (t) => {
  useChaosStack();
  await chaosStackUp();
  t.after(() => chaosStackDown());
  const results: ScenarioResult[] = [];
  for (const scenario of [brokerKill, stageKills(2)]) {
    results.push(await runScenario(scenario, { submissions: SUBMISSIONS, faultAt: 0.15, deadlineMs: 180_000, log: (line) => t.diagnostic(line) }));
    // A fault that outlived its scenario would fail the next one for the wrong reason.
    await chaosStackUp();
  }
  for (const line of formatTable(results).split('\n')) t.diagnostic(line);
  for (const r of results) {
    assert.deepEqual({ lost: r.lost, duplicated: r.duplicated, stuck: r.stuck }, { lost: 0, duplicated: 0, stuck: 0 }, `${r.scenario}: ${r.notes.slice(0, 10).join('; ')}`);
    assert.ok(r.recoverySeconds !== null && r.recoverySeconds < 60, `${r.scenario}: recovered in ${r.recoverySeconds ?? 'never'} s`);
  }
});
