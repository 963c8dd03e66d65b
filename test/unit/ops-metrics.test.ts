/**
 * The operator artefacts keep up with the code: every metric the alert rules (and their unit
 * tests) and the Grafana dashboard use is one the code registers, and the dashboard has the shape
 * Grafana provisioning needs (datasource through its variable, unique panel ids, an expr per
 * target). Names come from prom-client's default registry after importing the modules that
 * define metrics.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { register } from 'prom-client';
import '../../connectors/audit/archiver.ts';
import '../../connectors/audit/roots.ts';
import { intakeMetrics } from '../../connectors/intake/metrics.ts';
import '../../connectors/lookups/http/metrics.ts';
import '../../connectors/read-model/sink.ts';
import '../../connectors/webhooks/dispatcher.ts';
import { REPO_ROOT } from '../../lib/config.ts';
import { registerProcessMetrics } from '../../lib/observability/metrics.ts';
import '../../processors/runtime/metrics.ts';
import '../../processors/windower/index.ts';

const read = (...path: string[]): string => readFileSync(join(REPO_ROOT, ...path), 'utf8');
const ARTEFACTS = [
  ['ops', 'prometheus', 'alerts.yml'],
  ['ops', 'prometheus', 'alerts.test.yml'],
  ['ops', 'grafana', 'permitflow.json'],
];

/** Metric names in a file: ours, and prom-client's process metrics the dashboard shows. */
function metricNames(text: string): Set<string> {
  return new Set(text.match(/\b(?:permitflow|process|nodejs)_[a-zA-Z0-9_]+/g) ?? []);
}

/** Registered name -> type, as a scrape of a permitflow process would show them. */
async function registered(): Promise<Map<string, string>> {
  intakeMetrics(); // the intake creates its metrics on first use
  registerProcessMetrics(); // what every process's /metrics serves
  return new Map((await register.getMetricsAsJSON()).map((m) => [m.name, String(m.type)]));
}

test('every metric the alert rules and the dashboard use is registered by the code', async () => {
  const metrics = await registered();
  const problems: string[] = [];
  for (const path of ARTEFACTS) {
    for (const name of metricNames(read(...path))) {
      // Histograms are exposed as <name>_bucket, _sum and _count, never under their own name.
      const base = /^(.*)_(bucket|sum|count)$/.exec(name)?.[1];
      const baseType = base === undefined ? undefined : metrics.get(base);
      if (baseType === 'histogram' || baseType === 'summary') continue;
      const type = metrics.get(name);
      if (type === undefined) problems.push(`${path.join('/')}: ${name} is not registered by the code`);
      else if (type === 'histogram') problems.push(`${path.join('/')}: ${name} is a histogram; use ${name}_bucket, _sum or _count`);
    }
  }
  assert.deepEqual(problems, []);
});

interface Target {
  expr?: string;
  refId?: string;
  datasource?: { type?: string; uid?: string };
}
interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: { type?: string; uid?: string };
  targets?: Target[];
  panels?: Panel[];
}
interface Dashboard {
  schemaVersion: number;
  uid: string;
  templating: { list: { name: string; type: string; query: string }[] };
  panels: Panel[];
}

test('the dashboard has a datasource variable, unique panel ids and an expr per target', () => {
  const text = read('ops', 'grafana', 'permitflow.json');
  const dashboard = JSON.parse(text) as Dashboard;
  assert.ok(dashboard.schemaVersion >= 36 && dashboard.schemaVersion <= 41, `schemaVersion ${dashboard.schemaVersion}`);
  assert.ok(dashboard.uid, 'a fixed uid, so links to the dashboard survive a re-import');
  const variable = dashboard.templating.list.find((v) => v.type === 'datasource');
  assert.deepEqual(variable && { name: variable.name, query: variable.query }, { name: 'datasource', query: 'prometheus' });

  const all = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
  const ids = all.map((p) => p.id);
  assert.deepEqual(ids.filter((id, i) => ids.indexOf(id) !== i), [], 'duplicate panel ids');
  const viaVariable = { type: 'prometheus', uid: '${datasource}' };
  for (const panel of all.filter((p) => p.type !== 'row')) {
    assert.deepEqual(panel.datasource, viaVariable, `panel ${panel.id} "${panel.title}": datasource must be the variable`);
    assert.ok(panel.targets && panel.targets.length > 0, `panel ${panel.id} "${panel.title}" has no targets`);
    for (const target of panel.targets) {
      assert.ok(target.expr?.trim(), `panel ${panel.id} "${panel.title}" target ${target.refId}: no expr`);
      if (target.datasource) assert.deepEqual(target.datasource, viaVariable, `panel ${panel.id} target ${target.refId}: datasource must be the variable`);
    }
  }
  // No Prometheus datasource anywhere (annotations included) is pinned to one instance's uid.
  const uids = [...text.matchAll(/"type": "prometheus",\s*"uid": "([^"]*)"/g)].map((m) => m[1]);
  assert.ok(uids.length > 0);
  assert.deepEqual([...new Set(uids)], ['${datasource}']);

  const rows = all.filter((p) => p.type === 'row').map((p) => p.title);
  assert.deepEqual(rows, ['Intake', 'Stages', 'Lag', 'Windower', 'Failures', 'Lookups', 'Process', 'Audit archive']);
});
