/**
 * The text of one `permitflow status` screen: a header (time, cluster, namespace), one table row
 * per stage, and a footer (DLQ total, state topics, metrics endpoints that did not answer,
 * errors). Pure: the same snapshot always renders the same text, without colours.
 */
import Table from 'cli-table3';
import type { StageStatus, StatusSnapshot } from './snapshot.ts';
import { printable } from '../printable.ts';

/** What an unknown value shows: the source could not be read, or does not apply. */
export const NONE = '–';

const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const oneDecimal = new Intl.NumberFormat('en-US', { minimumFractionDigits: 1, maximumFractionDigits: 1 });

const count = (n: number | null): string => (n === null ? NONE : integer.format(n));

export function formatRate(rate: number | null): string {
  if (rate === null) return NONE;
  if (rate === 0) return '0';
  return rate < 10 ? oneDecimal.format(rate) : integer.format(rate);
}

function worst(s: StageStatus, namespace: string): string {
  const w = s.worstPartition;
  if (!w) return NONE;
  const topic = w.topic.startsWith(`${namespace}.`) ? w.topic.slice(namespace.length + 1) : w.topic;
  return `${topic}[${w.partition}] ${integer.format(w.lag)}`;
}

export interface RenderOptions {
  /** A last line such as the live view's key hint. */
  hint?: string;
}

export function renderStatus(snapshot: StatusSnapshot, options: RenderOptions = {}): string {
  const cluster = `${snapshot.cluster.id ?? NONE} (${snapshot.cluster.brokers.join(',')})`;
  const lines = [`permitflow status  ${snapshot.time}  cluster ${cluster}  namespace ${snapshot.namespace}`];

  const table = new Table({
    head: ['STAGE', 'MEMBERS', 'LAG', 'WORST PARTITION', 'RECORDS/S', 'IN FLIGHT', 'DLQ'],
    colAligns: ['left', 'right', 'right', 'left', 'right', 'right', 'right'],
    style: { head: [], border: [], compact: true },
  });
  for (const s of snapshot.stages) {
    table.push([s.stage, count(s.members), count(s.lag), worst(s, snapshot.namespace), formatRate(s.rate), count(s.inFlight), count(s.deadLetters)]);
  }
  lines.push(table.toString());

  const d = snapshot.deadLetters;
  const source = d.source === 'read-model+topic' ? 'read model + DLQ tail' : d.source === 'topic' ? 'DLQ topic' : null;
  // Stage names of dead letters are record data: escaped like every CLI output of it.
  const others = Object.entries(d.others).map(([name, n]) => ` · ${printable(name)} ${integer.format(n)}`).join('');
  lines.push(`DLQ total ${count(d.total)}${source ? ` (${source})` : ''}${others}${d.note ? `  [${d.note}]` : ''}`);
  lines.push(
    snapshot.stateTopics === null
      ? `state topics (offsets): ${NONE}`
      : `state topics (offsets): ${snapshot.stateTopics.map((t) => `${t.topic.startsWith(`${snapshot.namespace}.`) ? t.topic.slice(snapshot.namespace.length + 1) : t.topic} ${integer.format(t.offsets)}`).join(' · ')}`,
  );
  const down = snapshot.metrics.filter((m) => !m.ok);
  if (snapshot.metrics.length === 0) lines.push(`in flight: no metrics endpoint (--metrics)`);
  else if (down.length > 0) lines.push(`metrics not read: ${down.map((m) => `${m.url} (${m.error ?? 'failed'})`).join(', ')}`);
  // A broker that is down fails every source with one message: say it once.
  const bySource = new Map<string, string[]>();
  for (const e of snapshot.errors) bySource.set(e.message, [...(bySource.get(e.message) ?? []), e.source]);
  for (const [msg, what] of bySource) lines.push(`error: ${printable(msg)} (${what.join(', ')})`);
  if (options.hint) lines.push(options.hint);
  return lines.join('\n');
}
