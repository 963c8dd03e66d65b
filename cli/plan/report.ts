/**
 * The plan as pictures: Apache ECharts rendered server-side to SVG (no browser, no canvas),
 * written as stand-alone SVG files for e-mail and inlined in one HTML report with the tables.
 * A PNG of the whole report is taken by headless Chromium (./screenshot.ts) when it is there.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as echarts from 'echarts';
import { fmt } from './capacity.ts';
import type { Plan } from './plan.ts';

const WIDTH = 900;
const HEIGHT = 340;

export interface Chart {
  id: string;
  title: string;
  svg: string;
}

function render(option: echarts.EChartsOption, width = WIDTH, height = HEIGHT): string {
  const chart = echarts.init(null, null, { renderer: 'svg', ssr: true, width, height });
  try {
    chart.setOption({ animation: false, backgroundColor: '#fff', textStyle: { fontFamily: 'sans-serif' }, ...option });
    return chart.renderToSVGString();
  } finally {
    chart.dispose();
  }
}

const round1 = (v: number) => Math.round(v * 10) / 10;

/** History (the last year), the forecast and its band. */
function forecastChart(plan: Plan): string {
  const { history, forecast } = plan;
  const shown = Math.min(365, history.days.length);
  const days = [...history.days.slice(-shown), ...forecast.days];
  const pad = (n: number) => new Array<null>(n).fill(null);
  return render({
    title: { text: `Arrivals per day: history and ${forecast.days.length}-day forecast (${Math.round(forecast.level * 100)} % band)`, left: 'center', textStyle: { fontSize: 14 } },
    legend: { bottom: 0, data: ['history', 'forecast', 'band'] },
    grid: { left: 50, right: 20, top: 50, bottom: 50 },
    xAxis: { type: 'category', data: days, axisLabel: { interval: Math.floor(days.length / 8) } },
    yAxis: { type: 'value', name: 'submissions' },
    series: [
      { name: 'history', type: 'line', showSymbol: false, data: [...history.daily.slice(-shown), ...pad(forecast.days.length)], lineStyle: { width: 1, color: '#555' }, itemStyle: { color: '#555' } },
      { name: 'band-base', type: 'line', stack: 'band', showSymbol: false, data: [...pad(shown), ...forecast.lower.map(round1)], lineStyle: { opacity: 0 }, silent: true },
      {
        name: 'band',
        type: 'line',
        stack: 'band',
        showSymbol: false,
        data: [...pad(shown), ...forecast.upper.map((u, i) => round1(u - forecast.lower[i]!))],
        lineStyle: { opacity: 0 },
        areaStyle: { color: '#9ecae1', opacity: 0.6 },
        itemStyle: { color: '#9ecae1' },
      },
      { name: 'forecast', type: 'line', showSymbol: false, data: [...pad(shown), ...forecast.point.map(round1)], lineStyle: { width: 2, color: '#08519c' }, itemStyle: { color: '#08519c' } },
    ],
  });
}

/** Arrivals by hour of day, and the forecast daily peak hour. */
function peakHourChart(plan: Plan): string {
  const { history, forecast } = plan;
  return render({
    title: { text: 'Peak hour: arrivals by hour of day (history) and forecast busiest hour per day', left: 'center', textStyle: { fontSize: 14 } },
    grid: [
      { left: 50, right: '55%', top: 50, bottom: 50 },
      { left: '52%', right: 20, top: 50, bottom: 50 },
    ],
    xAxis: [
      { type: 'category', gridIndex: 0, data: history.byHour.map((_, h) => String(h)), name: 'hour' },
      { type: 'category', gridIndex: 1, data: forecast.days, axisLabel: { interval: 13 } },
    ],
    yAxis: [
      { type: 'value', gridIndex: 0, name: 'submissions' },
      { type: 'value', gridIndex: 1, name: 'per peak hour' },
    ],
    legend: { bottom: 0, right: 20, data: ['peak hour', 'upper'] },
    series: [
      { type: 'bar', xAxisIndex: 0, yAxisIndex: 0, data: history.byHour, itemStyle: { color: '#6baed6' } },
      { name: 'peak hour', type: 'line', xAxisIndex: 1, yAxisIndex: 1, showSymbol: false, data: forecast.peakHour.point.map(round1), itemStyle: { color: '#08519c' } },
      {
        name: 'upper',
        type: 'line',
        xAxisIndex: 1,
        yAxisIndex: 1,
        showSymbol: false,
        data: forecast.peakHour.upper.map(round1),
        lineStyle: { type: 'dashed' },
        itemStyle: { color: '#de2d26' },
      },
    ],
  });
}

/** The lag the peak day would build under the recommended and the current layout. */
function lagChart(plan: Plan): string {
  const label = (m: number) => `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`;
  return render({
    title: { text: `Lag through the peak day (${plan.peak.day}): recommended vs current layout`, left: 'center', textStyle: { fontSize: 14 } },
    legend: { bottom: 0, data: ['recommended', 'current'] },
    grid: { left: 60, right: 20, top: 50, bottom: 50 },
    xAxis: { type: 'category', data: plan.lag.recommended.map((p) => label(p.minute)), axisLabel: { interval: 17 } },
    yAxis: { type: 'value', name: 'records waiting' },
    series: [
      { name: 'recommended', type: 'line', showSymbol: false, data: plan.lag.recommended.map((p) => round1(p.lag)), areaStyle: { opacity: 0.2 }, itemStyle: { color: '#31a354' } },
      { name: 'current', type: 'line', showSymbol: false, data: plan.lag.current.map((p) => round1(p.lag)), lineStyle: { type: 'dashed' }, itemStyle: { color: '#de2d26' } },
    ],
  });
}

/** Backtest MAPE per held-out week, method vs seasonal naive. */
function backtestChart(plan: Plan): string {
  const weeks = plan.backtest.weeks;
  return render(
    {
      title: { text: 'Backtest: MAPE per held-out week (lower is better)', left: 'center', textStyle: { fontSize: 14 } },
      legend: { bottom: 0, data: ['method', 'seasonal naive'] },
      grid: { left: 50, right: 20, top: 50, bottom: 50 },
      xAxis: { type: 'category', data: weeks.map((w) => w.start) },
      yAxis: { type: 'value', name: 'MAPE %' },
      series: [
        { name: 'method', type: 'bar', data: weeks.map((w) => round1(w.method.mape)), itemStyle: { color: '#08519c' } },
        { name: 'seasonal naive', type: 'bar', data: weeks.map((w) => round1(w.naive.mape)), itemStyle: { color: '#bdbdbd' } },
      ],
    },
    WIDTH,
    280,
  );
}

export function renderCharts(plan: Plan): Chart[] {
  return [
    { id: 'forecast', title: 'History and forecast', svg: forecastChart(plan) },
    { id: 'peak-hour', title: 'Peak hour', svg: peakHourChart(plan) },
    { id: 'lag', title: 'Lag at the peak', svg: lagChart(plan) },
    { id: 'backtest', title: 'Backtest', svg: backtestChart(plan) },
  ];
}

const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

function table(head: string[], rows: (string | number)[][]): string {
  return `<table><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr>${rows.map((r) => `<tr>${r.map((c) => `<td>${esc(String(c))}</td>`).join('')}</tr>`).join('')}</table>`;
}

/** Plain-text lines of the recommendation: the terminal prints them, the report shows them. */
export function recommendationLines(plan: Plan): string[] {
  const r = plan.recommendation;
  const lines = [
    `Peak: ${plan.peak.day}, ${fmt(plan.peak.daily)} submissions (up to ${fmt(plan.peak.dailyUpper)}), busiest hour up to ${fmt(plan.peak.peakHourUpper)} (${fmt(r.peakPerSecond)}/s).`,
    `Instances: ${r.stages.map((s) => `${s.stage} ${s.instances}`).join(', ')}.`,
    `Partitions: ${r.partitions}${r.repartition ? ` (repartition needed: ${plan.current.partitions} now; every submission-keyed topic together, to keep co-partitioning)` : ` (${plan.current.partitions} now: no repartition)`}.`,
    `Windows: close at ${r.window.maxCount} submissions or ${r.window.maxAgeMs / 1000} s (WINDOW_MAX_COUNT=${r.window.maxCount}, WINDOW_MAX_AGE_MS=${r.window.maxAgeMs}); at the peak they close on ${r.window.closesOn}. WINDOW_MAX_BYTES=${r.window.maxBytes} stays: it closes a batch first only if submissions average over ${fmt(r.window.maxBytes / r.window.maxCount / 1024)} KB.`,
    `Intake: INTAKE_LAG_THRESHOLD=${r.lagThreshold}, INTAKE_LAG_HARD_LIMIT=${r.lagHardLimit}, INTAKE_RATE_LIMIT_PER_S=${r.rateLimitPerClient} per client.`,
    `Receipt to decision at p99: about ${fmt(r.p99Seconds)} s (target ${plan.target.p99Seconds} s): ${r.meetsTarget ? 'met' : 'NOT met'}.`,
  ];
  for (const sentence of r.impossible) lines.push(`Impossible: ${sentence}`);
  return lines;
}

export function renderHtml(plan: Plan, charts: Chart[]): string {
  const r = plan.recommendation;
  const b = plan.backtest;
  const pct = (v: number) => `${v.toFixed(1)} %`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>permitflow capacity plan</title>
<style>
body { font-family: sans-serif; margin: 24px; color: #222; max-width: 960px; }
h1 { font-size: 20px; } h2 { font-size: 16px; margin-top: 28px; }
table { border-collapse: collapse; margin: 8px 0; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; } th { background: #f0f0f0; }
td:first-child, th:first-child { text-align: left; }
.chart { margin: 12px 0; } .impossible { color: #a50f15; font-weight: bold; }
ul { font-size: 13px; }
</style></head><body>
<h1>Capacity plan</h1>
<p>Generated ${esc(plan.generatedAt)} from ${esc(plan.history.origin)}: ${plan.history.total.toLocaleString('en-US')} submissions
from ${esc(plan.history.days[0]!)} to ${esc(plan.history.days.at(-1)!)} (${esc(plan.history.zone)}), by source:
${esc(Object.entries(plan.history.bySource).map(([s, n]) => `${s} ${n.toLocaleString('en-US')}`).join(', '))}${plan.history.unreadable ? `; ${plan.history.unreadable} rows without a readable date` : ''}.
Target: p99 ${plan.target.p99Seconds} s receipt to decision, backlog drained within ${plan.target.maxLagSeconds} s.</p>
<h2>Recommendation</h2>
<ul>${recommendationLines(plan).map((l) => `<li${l.startsWith('Impossible') ? ' class="impossible"' : ''}>${esc(l)}</li>`).join('')}</ul>
${table(
  ['stage', 'records/s per instance (measured)', 'instances', 'utilisation at peak', 'p99 in stage (s)'],
  r.stages.map((s) => [s.stage, fmt(s.perInstance), s.instances, pct(100 * s.utilisation), s.p99Seconds.toFixed(3)]),
)}
${table(
  ['lookup API', 'limit (req/s)', 'submissions/s it allows', 'enough for the peak'],
  r.lookups.map((l) => [l.api, l.limitPerSecond, fmt(l.submissionsPerSecond), l.possible ? 'yes' : 'NO']),
)}
${charts.map((c) => `<h2>${esc(c.title)}</h2><div class="chart" id="chart-${c.id}">${c.svg}</div>`).join('\n')}
<h2>Backtest: last ${b.weeks.length} held-out weeks</h2>
<p>Each week is forecast from the days before it only. Method: ${esc(b.methodName)}; baseline: ${esc(b.naiveName)}. MAPE over days with arrivals; coverage of the ${Math.round(b.level * 100)} % band over all days.</p>
${table(
  ['week from', 'actual', 'method total', 'method MAPE', 'method coverage', 'naive total', 'naive MAPE', 'naive coverage'],
  [
    ...b.weeks.map((w) => [w.start, w.actual, w.method.total, pct(w.method.mape), pct(w.method.coverage), w.naive.total, pct(w.naive.mape), pct(w.naive.coverage)]),
    ['all', '', '', pct(b.method.mape), pct(b.method.coverage), '', pct(b.naive.mape), pct(b.naive.coverage)],
  ],
)}
${b.naiveWithEvents ? `<p>Seasonal naive given the same events (past ones replaced by the week before, future ones scaled by their effect): MAPE ${pct(b.naiveWithEvents.mape)}, coverage ${pct(b.naiveWithEvents.coverage)}.</p>` : ''}
${
  plan.rolling
    ? `<h2>Backtest: rolling origin, ${plan.rolling.windows.length} windows of ${plan.rolling.weeks} weeks</h2>
<p>The same backtest with the history cut ${plan.rolling.weeks} weeks earlier each time. The method's MAPE is below the baseline's in ${plan.rolling.wins} of ${plan.rolling.windows.length} windows${plan.rolling.winsWithEvents !== null ? `, below that of seasonal naive with the same events in ${plan.rolling.winsWithEvents}` : ''}.</p>
${table(
  ['window to', 'method MAPE', 'method coverage', 'naive MAPE', 'naive coverage', ...(plan.rolling.naiveWithEvents ? ['naive with events MAPE'] : [])],
  [
    ...plan.rolling.windows.map((w) => [w.end, pct(w.method.mape), pct(w.method.coverage), pct(w.naive.mape), pct(w.naive.coverage), ...(w.naiveWithEvents ? [pct(w.naiveWithEvents.mape)] : [])]),
    ['mean', pct(plan.rolling.method.mape), pct(plan.rolling.method.coverage), pct(plan.rolling.naive.mape), pct(plan.rolling.naive.coverage), ...(plan.rolling.naiveWithEvents ? [pct(plan.rolling.naiveWithEvents.mape)] : [])],
  ],
)}`
    : ''
}
<h2>Check against the benchmark</h2>
<p>The model's verdict on each steady load the benchmark ran through one <code>run all</code> process (capacity ${fmt(plan.rates.allInOne)}/s by the measured rates), next to what it measured.</p>
${table(
  ['load (/s)', 'model: holds', 'measured: sustainable', 'measured p99 (s)', 'measured max lag', 'agree'],
  plan.benchCheck.map((c) => [c.rate, c.predictedSustainable ? 'yes' : 'no', c.measuredSustainable ? 'yes' : 'no', c.measuredP99Seconds, c.measuredMaxLag.toLocaleString('en-US'), c.agrees ? 'yes' : 'NO']),
)}
${plan.benchLayout ? `<p>One recommendation held to the benchmark: for its ${plan.benchLayout.rate}/s the model recommends ${esc(Object.entries(plan.benchLayout.recommended).map(([s, n]) => `${s} ${n}`).join(', '))} (capacity ${fmt(plan.benchLayout.capacity)}/s, at least the single process's ${fmt(plan.rates.allInOne)}/s); the benchmark ran that load through the single process with p99 ${plan.benchLayout.measuredP99Seconds} s and a lag that peaked at ${plan.benchLayout.measuredMaxLag.toLocaleString('en-US')} and drained: the ${plan.target.p99Seconds} s target ${plan.benchLayout.holds ? 'holds' : 'does NOT hold'}.</p>` : ''}
<h2>Assumptions</h2>
<ul>${plan.assumptions.map((a) => `<li>${esc(a)}</li>`).join('')}</ul>
</body></html>
`;
}

export interface WrittenReport {
  dir: string;
  html: string;
  json: string;
  svgs: string[];
}

/** Writes plan.json, report.html and one SVG per chart into `dir`. */
export function writeReport(plan: Plan, dir: string): WrittenReport {
  mkdirSync(dir, { recursive: true });
  const charts = renderCharts(plan);
  const svgs = charts.map((c) => {
    const file = join(dir, `${c.id}.svg`);
    writeFileSync(file, c.svg);
    return file;
  });
  const html = join(dir, 'report.html');
  writeFileSync(html, renderHtml(plan, charts));
  const json = join(dir, 'plan.json');
  writeFileSync(json, `${JSON.stringify(plan, null, 2)}\n`);
  return { dir, html, json, svgs };
}
