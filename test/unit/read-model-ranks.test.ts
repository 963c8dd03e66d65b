/**
 * The `submissions` view (migration 0003) repeats in SQL which states it reads from the events
 * and their ranks, and the rank from which it stops looking; connectors/read-model/records.ts
 * holds the same in STATUS_RANK and READ_FROM_EVENTS. A change to one alone would make the view
 * report a wrong furthest state without an error: this test fails instead.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { READ_FROM_EVENTS, STATUS_RANK } from '../../connectors/read-model/records.ts';
import { REPO_ROOT } from '../../lib/config.ts';

const view = readFileSync(join(REPO_ROOT, 'connectors/read-model/migrations/0003_sink_append_only.sql'), 'utf8');

test("the submissions view's states and ranks are the sink's", () => {
  const values = /JOIN \(VALUES ([^)]*\)(?:, \([^)]*\))*)\) AS m/.exec(view);
  assert.ok(values, 'the VALUES list of the view');
  const inSql = new Map([...values[1]!.matchAll(/\('(\w+)', (\d+)::smallint\)/g)].map((m) => [m[1]!, Number(m[2])]));
  assert.deepEqual(new Set(inSql.keys()), new Set(READ_FROM_EVENTS));
  for (const [state, rank] of inSql) assert.equal(rank, STATUS_RANK[state as keyof typeof STATUS_RANK], `rank of ${state}`);
  // The view stops looking at the events once the recorded rank reaches the last state it reads there.
  const stop = /r\.status_rank < (\d+)/.exec(view);
  assert.equal(Number(stop?.[1]), Math.max(...inSql.values()));
});
