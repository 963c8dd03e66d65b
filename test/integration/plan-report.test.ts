/**
 * `permitflow plan --history <export> --mapping <name>` end to end: the CLI reads the SF DBI
 * export's filed dates, prints the plan, writes the report, and Debian's Chromium (installed by
 * `permitflow stack tools`) renders it: every chart drew, and the PNG is a real picture. History
 * from the read model is read from the real PostgreSQL.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { loadConfig, REPO_ROOT } from '../../lib/config.ts';
import { historyFromReadModel } from '../../cli/plan/history.ts';
import type { Plan } from '../../cli/plan/plan.ts';
import type { PlanSummary } from '../../cli/plan/summary.ts';
import type { ChartCheck } from '../../cli/plan/screenshot.ts';
import { renderInChromium } from '../../cli/plan/screenshot.ts';
import { requireChromium } from '../../ops/stack/chromium.ts';
import { readModelConfig } from './read-model-helpers.ts';
import { testConfig, testTopology } from '../support/stack.ts';

const execFileAsync = promisify(execFile);
const FIXTURE = join(REPO_ROOT, 'test/fixtures/history/sf-dbi-filed-dates.csv');

test('plan --history --mapping prints the layout, writes the report, and Chromium draws every chart', async (t) => {
  const chromium = requireChromium();
  // A stack folder of its own, for the report's default place; the real stack's env file for status.
  const stackDir = mkdtempSync(join(tmpdir(), 'permitflow-plan-'));
  t.after(() => rmSync(stackDir, { recursive: true, force: true }));
  const env = { ...process.env, PERMITFLOW_STACK_DIR: stackDir, PERMITFLOW_ENV_FILE: loadConfig().stack.envFile, LOG_LEVEL: 'warn' };
  const args = ['bin/permitflow.js', 'plan', '--history', FIXTURE, '--mapping', 'sf-dbi-building-permits', '--since', '2015-08-01', '--until', '2017-12-31', '--chromium', chromium];

  const { stdout } = await execFileAsync(process.execPath, [...args, '--json'], { cwd: REPO_ROOT, env, maxBuffer: 64 * 1024 * 1024, timeout: 180_000 });
  const plan = JSON.parse(stdout) as Plan & { report: { html: string; png: string; svgs: string[]; charts: ChartCheck[] } };
  assert.equal(plan.history.total, 4656);
  assert.equal(plan.forecast.days[0], '2018-01-01');
  assert.equal(plan.forecast.days.length, 56);
  assert.deepEqual(plan.recommendation.stages.map((s) => s.stage), ['windower', 'enricher', 'validator', 'decider', 'read-model']);
  assert.ok(plan.backtest.method.mape < plan.backtest.naive.mape);

  // Every chart drew: on the page at its size, with marks (lines, bars, axes, labels).
  assert.equal(plan.report.html, join(stackDir, 'plan', 'report.html'));
  assert.deepEqual(plan.report.charts.map((c) => c.id), ['forecast', 'peak-hour', 'lag', 'backtest']);
  for (const chart of plan.report.charts) {
    assert.ok(chart.width >= 800 && chart.height >= 250, `${chart.id}: ${chart.width}x${chart.height}`);
    assert.ok(chart.marks >= 20, `${chart.id}: ${chart.marks} marks`);
  }
  const png = readFileSync(plan.report.png);
  assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'a PNG file');
  assert.ok(png.readUInt32BE(16) === 1000 && png.readUInt32BE(20) > 2000, `PNG ${png.readUInt32BE(16)}x${png.readUInt32BE(20)}`);
  for (const svg of plan.report.svgs) assert.match(readFileSync(svg, 'utf8'), /^<svg[^>]+width="900"/);
  const html = readFileSync(plan.report.html, 'utf8');
  assert.match(html, /Backtest: last 4 held-out weeks/);
  assert.match(html, /Check against the benchmark/);

  // The terminal summary: the recommendation in words.
  const text = (await execFileAsync(process.execPath, [...args, '--no-png'], { cwd: REPO_ROOT, env, timeout: 180_000 })).stdout;
  assert.match(text, /^Peak: 2018-\d\d-\d\d, /m);
  assert.match(text, /^Instances: windower 1, enricher 1, validator 1, decider 1, read-model 1\.$/m);
  assert.match(text, /^Partitions: 6 \(6 now: no repartition\)\.$/m);
  assert.match(text, /^Windows: close at 500 submissions or \d+ s .* WINDOW_MAX_BYTES=26214400 stays: it closes a batch first only if submissions average over 51\.2 KB\.$/m);
  assert.match(text, /^Intake: INTAKE_LAG_THRESHOLD=\d+, INTAKE_LAG_HARD_LIMIT=\d+, INTAKE_RATE_LIMIT_PER_S=\d+ per client\.$/m);
  assert.match(text, /^Backtest \(last 4 weeks, 90 % band\): MSTL/m);

  // `status --json` carries the plan next to the live figures (of this test's own topics).
  const config = await testConfig();
  await testTopology(t, config);
  const statusEnv = { ...env, PERMITFLOW_TOPIC_NAMESPACE: config.topology.namespace, PERMITFLOW_PARTITIONS: '3' };
  const status = JSON.parse((await execFileAsync(process.execPath, ['bin/permitflow.js', 'status', '--once', '--json', '--metrics', ''], { cwd: REPO_ROOT, env: statusEnv, maxBuffer: 16 * 1024 * 1024, timeout: 180_000 })).stdout) as { stages: unknown[]; errors: unknown[]; plan: PlanSummary };
  assert.deepEqual(status.errors, []);
  assert.ok(status.stages.length > 0);
  assert.ok(status.plan.available);
  assert.deepEqual(status.plan.instances, { windower: 1, enricher: 1, validator: 1, decider: 1, 'read-model': 1 });
  assert.equal(status.plan.history.total, 4656);
  assert.equal(status.plan.peak.day, plan.peak.day);
  assert.equal(status.plan.report, plan.report.html);
  assert.ok(status.plan.backtest.method.mape < status.plan.backtest.naive.mape);
});

test('the chart check fails on a chart that drew nothing', async (t) => {
  const out = mkdtempSync(join(tmpdir(), 'permitflow-plan-'));
  t.after(() => rmSync(out, { recursive: true, force: true }));
  const html = join(out, 'blank.html');
  writeFileSync(html, '<!doctype html><html><body><div class="chart" id="chart-empty"><svg width="900" height="340"></svg></div></body></html>');
  const rendered = await renderInChromium(html, join(out, 'blank.png'), requireChromium());
  assert.deepEqual(rendered.charts, [{ id: 'empty', width: 900, height: 340, marks: 0 }]);
  assert.ok(existsSync(rendered.png));
});

test('plan on the dense Chicago licence history: the events, the rolling-origin backtest and its table in the report', async (t) => {
  const out = mkdtempSync(join(tmpdir(), 'permitflow-plan-chicago-'));
  t.after(() => rmSync(out, { recursive: true, force: true }));
  const args = [
    'bin/permitflow.js', 'plan', '--history', join(REPO_ROOT, 'test/fixtures/history/chicago-business-license-issues.csv'),
    '--mapping', 'chicago-business-license-issues', '--since', '2002-01-01',
    '--events', join(REPO_ROOT, 'test/fixtures/history/us-il-holidays-2002-2015.yaml'), '--rolling', '2', '--no-png', '--out', out, '--json',
  ];
  const { stdout } = await execFileAsync(process.execPath, args, { cwd: REPO_ROOT, env: { ...process.env, LOG_LEVEL: 'warn' }, maxBuffer: 64 * 1024 * 1024, timeout: 180_000 });
  const plan = JSON.parse(stdout) as Plan;
  assert.equal(plan.history.total, 98_201);
  assert.equal(plan.history.hasTimes, false);
  assert.equal(plan.forecast.days[0], '2015-02-12');
  assert.match(plan.backtest.methodName, /log\(1 \+ y\)/);
  assert.deepEqual(plan.backtest.weeks.map((w) => w.start), ['2015-01-12', '2015-01-19', '2015-01-26', '2015-02-02']);
  assert.ok(plan.backtest.method.mape < plan.backtest.naive.mape, `${plan.backtest.method.mape} vs ${plan.backtest.naive.mape}`);
  assert.deepEqual(plan.rolling?.windows.map((w) => w.end), ['2015-01-11', '2015-02-08']);
  assert.equal(plan.rolling.windows[1]!.method.mape, plan.backtest.method.mape, 'the last rolling window is the backtest itself');
  const html = readFileSync(join(out, 'report.html'), 'utf8');
  assert.match(html, /Backtest: rolling origin, 2 windows of 4 weeks/);
  assert.match(html, /<td>2015-01-11<\/td>/);
});

test('a bad option or a mapping without a filed date is a clear error, not a stack trace', async () => {
  const run = (args: string[]) => execFileAsync(process.execPath, ['bin/permitflow.js', 'plan', ...args], { cwd: REPO_ROOT, timeout: 60_000 });
  await assert.rejects(run(['--history', FIXTURE]), (err: { stderr: string; code: number }) => /--history needs --mapping/.test(err.stderr) && err.code !== 0 && !/at .*\.ts:\d+/.test(err.stderr));
  await assert.rejects(run(['--history', FIXTURE, '--mapping', 'sf-dbi-building-permits', '--p99', 'soon']), (err: { stderr: string }) => /--p99: expected a duration such as 90s, 5m or 1h \(got soon\)/.test(err.stderr));
  await assert.rejects(run(['--history', FIXTURE, '--mapping', 'sf-dbi-building-permits', '--no-png', '--metrics', 'http://127.0.0.1:9']), (err: { stderr: string }) => /--metrics http:\/\/127\.0\.0\.1:9\/metrics: cannot scrape/.test(err.stderr));
  await assert.rejects(run(['--history', FIXTURE, '--mapping', 'sf-dbi-building-permits', '--rolling', '1.5']), (err: { stderr: string }) => /--rolling: expected a whole number of cutoffs \(got 1\.5\)/.test(err.stderr));
  await assert.rejects(run(['--history', FIXTURE, '--mapping', 'sf-dbi-building-permits', '--transform', 'sqrt']), (err: { stderr: string }) => /--transform.*sqrt.*log1p, none/s.test(err.stderr));
});

test('history from the read model: arrivals per local day and hour, by source', async (t) => {
  const { config, pool } = await readModelConfig(t);
  const rows: [string, string][] = [
    ['2026-03-02T16:05:00Z', 'http'], // 08:05 in Los Angeles, Monday
    ['2026-03-02T16:40:00Z', 'http'],
    ['2026-03-02T17:10:00Z', 'file-drop'],
    ['2026-03-04T22:30:00Z', 'kafka'], // 14:30, Wednesday
  ];
  for (const [i, [at, source]] of rows.entries()) {
    await pool.query(`INSERT INTO submissions (submission_hash, status, status_rank, status_at, source, received_at) VALUES ($1, 'received', 0, $2, $3, $2)`, [`h${i}`, at, source]);
  }
  const history = await historyFromReadModel(pool, config.readModel.schema, 'America/Los_Angeles');
  assert.deepEqual(history.days, ['2026-03-02', '2026-03-03', '2026-03-04']);
  assert.deepEqual(history.daily, [3, 0, 1]);
  assert.deepEqual(history.bySource, { http: 2, 'file-drop': 1, kafka: 1 });
  assert.equal(history.byHour[8], 2);
  assert.equal(history.byHour[9], 1);
  assert.equal(history.byHour[14], 1);
  assert.deepEqual(history.peakHourly, [2, 0, 1]);
});
