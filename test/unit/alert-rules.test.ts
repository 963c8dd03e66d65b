/**
 * The Prometheus artefacts under ops/prometheus, checked by promtool itself: the rules and the
 * config are valid, the rules' unit tests (alerts.test.yml) pass, and every query of the Grafana
 * dashboard parses. promtool is built into the cache by `make test`; without it these tests fail
 * (never skip) and say how to get it.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { stringify } from 'yaml';
import { loadConfig, REPO_ROOT } from '../../lib/config.ts';
import { requirePromtool } from '../../ops/prometheus/promtool.ts';

const dir = join(REPO_ROOT, 'ops', 'prometheus');

/** Runs promtool in ops/prometheus (file references there are relative); fails with its output. */
function promtool(...args: string[]): string {
  const bin = requirePromtool(loadConfig().stack.cacheDir);
  const result = spawnSync(bin, args, { cwd: dir, encoding: 'utf8', timeout: 60_000 });
  const output = `${result.stdout}${result.stderr}`.trim();
  assert.equal(result.error, undefined, `promtool ${args.join(' ')}: ${result.error?.message}`);
  assert.equal(result.status, 0, `promtool ${args.join(' ')} failed:\n${output}`);
  return output;
}

test('the alert rules are valid', () => {
  assert.match(promtool('check', 'rules', 'alerts.yml'), /SUCCESS: \d+ rules found/);
});

test('the Prometheus configs (local and docker-compose) are valid and load the rules', () => {
  for (const file of ['prometheus.yml', 'prometheus.compose.yml']) assert.match(promtool('check', 'config', file), /SUCCESS: 1 rule files found/, file);
});

test("the alert rules' unit tests pass", () => {
  assert.match(promtool('test', 'rules', 'alerts.test.yml'), /SUCCESS/);
});

test("every query of the Grafana dashboard is valid PromQL", (t) => {
  const dashboard = readFileSync(join(REPO_ROOT, 'ops', 'grafana', 'permitflow.json'), 'utf8');
  // Grafana's interval variables are not PromQL; any duration stands in for them.
  const exprs = [...dashboard.matchAll(/"expr": ("(?:[^"\\]|\\.)*")/g)].map((m) => (JSON.parse(m[1]!) as string).replaceAll(/\$__(rate_)?interval/g, '5m'));
  assert.ok(exprs.length > 30, `only ${exprs.length} queries found`);
  const dir = mkdtempSync(join(tmpdir(), 'pf-dashboard-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'dashboard-queries.yml');
  // promtool parses expressions as part of rules: one recording rule per query.
  writeFileSync(file, stringify({ groups: [{ name: 'dashboard', rules: exprs.map((expr, i) => ({ record: `dashboard:query_${i}`, expr })) }] }));
  assert.match(promtool('check', 'rules', file), /SUCCESS/);
});
