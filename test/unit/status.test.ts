/**
 * `permitflow status` without services: the render of a fixed snapshot, the Prometheus gauge
 * parser and scraper, the dead-letter counter's split between read model and DLQ tail, and the
 * collector over a fake admin (drain rate, worst partition, failures that leave cells empty).
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseMetricsUrls } from '../../cli/commands/status.ts';
import { createDeadLetterCounter, type RangeReader, type ReadModelDeadLetters, type TailRecord } from '../../cli/status/dead-letters.ts';
import { IN_FLIGHT_METRIC, scrapeInFlight, type Fetcher } from '../../cli/status/metrics.ts';
import { parseSamples } from '../../lib/observability/prometheus-text.ts';
import { formatRate, NONE, renderStatus } from '../../cli/status/render.ts';
import { collectStatus, createRateHistory, type StatusAdmin, type StatusSnapshot } from '../../cli/status/snapshot.ts';
import { buildTopology } from '../../topology/topics.ts';

const SNAPSHOT_FILE = join(import.meta.dirname, 'snapshots', 'status.txt');

const FIXED: StatusSnapshot = {
  time: '2025-03-04T05:06:07.000Z',
  namespace: 'permits',
  cluster: { id: 'Xy1cluster', brokers: ['127.0.0.1:19092'] },
  stages: [
    { stage: 'windower', group: 'permitflow.windower', members: 1, lag: 12_345, worstPartition: { topic: 'permits.submissions.raw', partition: 4, lag: 9000 }, position: 100, rate: 1234.56, inFlight: 17, deadLetters: 2 },
    { stage: 'enricher', group: 'permitflow.enricher', members: 2, lag: 0, worstPartition: null, position: 50, rate: 2.25, inFlight: 0, deadLetters: 0 },
    { stage: 'validator', group: 'permitflow.validator', members: 0, lag: 7, worstPartition: { topic: 'permits.state.enriched', partition: 0, lag: 7 }, position: 3, rate: 0, inFlight: null, deadLetters: 1 },
    { stage: 'decider', group: 'permitflow.decider', members: null, lag: null, worstPartition: null, position: null, rate: null, inFlight: null, deadLetters: null },
    { stage: 'read-model', group: 'permitflow.read-model', members: 1, lag: 3, worstPartition: { topic: 'permits.dlq', partition: 1, lag: 3 }, position: 900, rate: 10, inFlight: null, deadLetters: null },
  ],
  deadLetters: { total: 5, others: { 'file-drop': 2 }, source: 'read-model+topic', note: null },
  stateTopics: [
    { id: 'received', topic: 'permits.state.received', offsets: 1500 },
    { id: 'batches', topic: 'permits.batches', offsets: 4 },
  ],
  metrics: [
    { url: 'http://127.0.0.1:9464/metrics', ok: true },
    { url: 'http://127.0.0.1:9465/metrics', ok: false, error: 'ECONNREFUSED' },
  ],
  errors: [
    { source: 'lag of decider', message: 'broker gone' },
    { source: 'consumer groups', message: 'broker gone' },
  ],
};

test('render: a fixed snapshot gives the same screen (snapshot file)', () => {
  const text = renderStatus(FIXED, { hint: 'q quit · every 2 s' }) + '\n';
  // UPDATE_SNAPSHOTS=1 rewrites it after a deliberate change.
  if (process.env.UPDATE_SNAPSHOTS === '1') writeFileSync(SNAPSHOT_FILE, text);
  assert.equal(text, readFileSync(SNAPSHOT_FILE, 'utf8'));
});

test('render: header, one row per stage, unknowns as –, footer with DLQ, state topics, unread metrics and errors said once', () => {
  const lines = renderStatus(FIXED).split('\n');
  assert.equal(lines[0], 'permitflow status  2025-03-04T05:06:07.000Z  cluster Xy1cluster (127.0.0.1:19092)  namespace permits');
  const row = (stage: string) => lines.find((l) => l.includes(` ${stage} `))!.split('│').map((c) => c.trim()).filter((c) => c !== '');
  assert.deepEqual(row('windower'), ['windower', '1', '12,345', 'submissions.raw[4] 9,000', '1,235', '17', '2']);
  assert.deepEqual(row('enricher'), ['enricher', '2', '0', NONE, '2.3', '0', '0']);
  assert.deepEqual(row('decider'), ['decider', NONE, NONE, NONE, NONE, NONE, NONE]);
  assert.deepEqual(row('read-model'), ['read-model', '1', '3', 'dlq[1] 3', '10', NONE, NONE]);
  assert.ok(lines.includes('DLQ total 5 (read model + DLQ tail) · file-drop 2'), lines.join('\n'));
  assert.ok(lines.includes('state topics (offsets): state.received 1,500 · batches 4'));
  assert.ok(lines.includes('metrics not read: http://127.0.0.1:9465/metrics (ECONNREFUSED)'));
  assert.deepEqual(lines.filter((l) => l.startsWith('error:')), ['error: broker gone (lag of decider, consumer groups)']);
  assert.equal(lines.at(-1), 'error: broker gone (lag of decider, consumer groups)', 'no hint unless asked');

  const unknown = renderStatus({ ...FIXED, deadLetters: { total: null, others: {}, source: null, note: null }, stateTopics: null, metrics: [], errors: [] });
  assert.match(unknown, /^DLQ total –$/m);
  assert.match(unknown, /^state topics \(offsets\): –$/m);
  assert.match(unknown, /^in flight: no metrics endpoint/m);
  assert.match(renderStatus({ ...FIXED, deadLetters: { total: 1, others: {}, source: 'topic', note: 'read model unavailable (x)' } }), /^DLQ total 1 \(DLQ topic\) {2}\[read model unavailable \(x\)\]$/m);
});

test('rates: – before two samples, one decimal under 10, whole numbers above', () => {
  assert.equal(formatRate(null), NONE);
  assert.equal(formatRate(0), '0');
  assert.equal(formatRate(0.04), '0.0');
  assert.equal(formatRate(9.95), '10.0');
  assert.equal(formatRate(12_345.6), '12,346');
});

const EXPOSITION = `# HELP permitflow_in_flight_records Records being handled now
# TYPE permitflow_in_flight_records gauge
permitflow_in_flight_records{processor="windower"} 3
permitflow_in_flight_records{processor="enricher",extra="a \\"quoted\\", comma} and \\\\ and \\n"} 12 1700000000000
permitflow_in_flight_records_total{processor="windower"} 99
permitflow_in_flight_records { processor = "validator" , } NaN
permitflow_in_flight_records{processor="decider"} +Inf
permitflow_in_flight_records 1.5e1
permitflow_in_flight_records{processor="broken} 4
permitflow_in_flight_records{processor="x"} not-a-number
other_metric{processor="windower"} 5
`;

test('the gauge parser reads labels (escapes included), values and timestamps, and skips other metrics and malformed lines', () => {
  const samples = parseSamples(EXPOSITION, IN_FLIGHT_METRIC);
  assert.equal(samples.length, 5);
  assert.deepEqual(samples[0], { labels: { processor: 'windower' }, value: 3 });
  assert.deepEqual(samples[1], { labels: { processor: 'enricher', extra: 'a "quoted", comma} and \\ and \n' }, value: 12 });
  assert.deepEqual(samples[2]!.labels, { processor: 'validator' });
  assert.ok(Number.isNaN(samples[2]!.value));
  assert.equal(samples[3]!.value, Number.POSITIVE_INFINITY);
  assert.deepEqual(samples[4], { labels: {}, value: 15 });
  assert.deepEqual(parseSamples(EXPOSITION, 'other_metric'), [{ labels: { processor: 'windower' }, value: 5 }]);
  assert.deepEqual(parseSamples('', IN_FLIGHT_METRIC), []);
});

test('scraping sums the gauge per processor over endpoints and reports endpoints that fail, without throwing', async () => {
  const bodies: Record<string, string> = {
    'http://a/metrics': 'permitflow_in_flight_records{processor="windower"} 3\npermitflow_in_flight_records{processor="enricher"} 1\n',
    'http://b/metrics': 'permitflow_in_flight_records{processor="windower"} 4\npermitflow_in_flight_records{processor="decider"} NaN\n',
  };
  const fake: Fetcher = (url) => {
    if (url === 'http://down/metrics') return Promise.reject(new TypeError('fetch failed', { cause: { code: 'ECONNREFUSED' } }));
    if (url === 'http://404/metrics') return Promise.resolve({ ok: false, status: 404, text: () => Promise.resolve('') });
    return Promise.resolve({ ok: true, status: 200, text: () => Promise.resolve(bodies[url]!) });
  };
  const reading = await scrapeInFlight(['http://a/metrics', 'http://b/metrics', 'http://down/metrics', 'http://404/metrics'], { timeoutMs: 1000, fetch: fake });
  assert.deepEqual([...reading.byProcessor].sort(), [['enricher', 1], ['windower', 7]], 'NaN is no reading');
  assert.deepEqual(reading.endpoints, [
    { url: 'http://a/metrics', ok: true },
    { url: 'http://b/metrics', ok: true },
    { url: 'http://down/metrics', ok: false, error: 'ECONNREFUSED' },
    { url: 'http://404/metrics', ok: false, error: 'HTTP 404' },
  ]);

  const slow: Fetcher = (_url, signal) => new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(signal.reason as Error)));
  assert.deepEqual((await scrapeInFlight(['http://slow/metrics'], { timeoutMs: 20, fetch: slow })).endpoints, [{ url: 'http://slow/metrics', ok: false, error: 'timed out' }]);
});

test('--metrics takes comma-separated http(s) URLs; "" is none', () => {
  assert.deepEqual(parseMetricsUrls('http://a:9464/metrics, https://b/metrics'), ['http://a:9464/metrics', 'https://b/metrics']);
  assert.deepEqual(parseMetricsUrls(''), []);
  assert.throws(() => parseMetricsUrls('a:9464'), /--metrics expects http\(s\) URLs/);
  assert.throws(() => parseMetricsUrls('not a url'), /--metrics expects comma-separated/);
});

/** A DLQ of `letters` per partition (each a consumer group, null: undecodable), with low watermarks, and a reader that logs what it was asked. */
function fakeDlq(letters: Array<Array<string | null>>, low: number[] = letters.map(() => 0)) {
  const reads: Array<Array<[number, number, number]>> = [];
  const readRange: RangeReader = (ranges) => {
    reads.push([...ranges].map(([p, r]) => [p, Number(r.from), Number(r.to)]));
    const out: TailRecord[] = [];
    for (const [p, r] of ranges) for (let o = r.from; o < r.to; o++) out.push({ partition: p, offset: o, group: letters[p]![Number(o)] ?? null });
    return Promise.resolve(out);
  };
  const watermarks = () => Promise.resolve(letters.map((l, partition) => ({ partition, low: String(low[partition]), high: String(l.length) })));
  return { reads, readRange, watermarks };
}

test('dead letters: the read model rows plus the DLQ past its offsets, each tail record decoded once', async () => {
  const letters = [['g.windower', 'g.windower', 'g.enricher'], ['g.file-drop']];
  const dlq = fakeDlq(letters);
  // The read model applied partition 0 up to offset 2 (the two windower letters), nothing of partition 1.
  let readModel: ReadModelDeadLetters = { byGroup: new Map([['g.windower', 2]]), applied: new Map([[0, 2n]]) };
  const counter = createDeadLetterCounter({ watermarks: dlq.watermarks, readModel: () => Promise.resolve(readModel), readRange: dlq.readRange });
  const count = async () => Object.fromEntries((await counter.count(['g.windower', 'g.enricher', 'g.validator', 'g.file-drop'])).byGroup);

  const first = await counter.count(['g.windower', 'g.enricher', 'g.file-drop']);
  assert.equal(first.source, 'read-model+topic');
  assert.equal(first.note, null);
  assert.deepEqual(Object.fromEntries(first.byGroup), { 'g.windower': 2, 'g.enricher': 1, 'g.file-drop': 1 });
  assert.deepEqual(dlq.reads, [[[0, 2, 3], [1, 0, 1]]]);

  // A new letter arrives while the read model applies partition 1: only the new record is read,
  // and the letter now in the read model is no longer counted from the tail.
  letters[0]!.push('g.validator');
  readModel = { byGroup: new Map([['g.windower', 2], ['g.file-drop', 1]]), applied: new Map([[0, 2n], [1, 1n]]) };
  assert.deepEqual(await count(), { 'g.windower': 2, 'g.file-drop': 1, 'g.enricher': 1, 'g.validator': 1 });
  assert.deepEqual(dlq.reads.slice(1), [[[0, 3, 4]]]);

  // The read model caught up: nothing is read, nothing counted twice.
  readModel = { byGroup: new Map([['g.windower', 2], ['g.enricher', 1], ['g.validator', 1], ['g.file-drop', 1]]), applied: new Map([[0, 4n], [1, 1n]]) };
  assert.deepEqual(await count(), { 'g.windower': 2, 'g.enricher': 1, 'g.validator': 1, 'g.file-drop': 1 });
  assert.equal(dlq.reads.length, 2);
});

test('dead letters: without a readable read model the whole topic (from its low watermark) is counted, and why is said', async () => {
  const dlq = fakeDlq([['a', 'a', 'b'], ['b', null]], [1, 0]);
  const counter = createDeadLetterCounter({ watermarks: dlq.watermarks, readModel: () => Promise.reject(new Error('relation "dead_letters" does not exist')), readRange: dlq.readRange });
  const counts = await counter.count(['a', 'b']);
  assert.equal(counts.source, 'topic');
  assert.match(counts.note ?? '', /read model unavailable \(relation "dead_letters" does not exist\)/);
  assert.deepEqual(Object.fromEntries(counts.byGroup), { a: 1, b: 2, '?': 1 });
  assert.deepEqual(dlq.reads, [[[0, 1, 3], [1, 0, 2]]]);
  await counter.count(['a', 'b']);
  assert.equal(dlq.reads.length, 1, 'the second count reads nothing again');

  const none = createDeadLetterCounter({ watermarks: dlq.watermarks, readModel: null, readRange: dlq.readRange });
  assert.equal((await none.count([])).source, 'topic');
});

/** A fake admin over fixed watermarks and committed offsets, which the test moves between snapshots. */
function fakeAdmin(state: { ends: Record<string, number[]>; committed: Record<string, Record<string, number[]>>; fail?: Set<string> }): StatusAdmin & { calls: string[] } {
  const calls: string[] = [];
  const admin = {
    calls,
    fetchTopicOffsets: (topic: string) => {
      calls.push(topic);
      if (state.fail?.has(topic)) return Promise.reject(new Error(`no topic ${topic}`));
      return Promise.resolve((state.ends[topic] ?? [0, 0, 0]).map((high, partition) => ({ partition, offset: String(high), high: String(high), low: '0' })));
    },
    fetchOffsets: ({ groupId, topics }: { groupId: string; topics: string[] }) =>
      Promise.resolve(topics.map((topic) => ({ topic, partitions: (state.ends[topic] ?? [0, 0, 0]).map((_h, partition) => ({ partition, offset: String(state.committed[groupId]?.[topic]?.[partition] ?? -1), metadata: null })) }))),
    describeCluster: () => Promise.resolve({ clusterId: 'c1', controller: 1, brokers: [] }),
    describeGroups: (groupIds: string[]) => Promise.resolve({ groups: groupIds.map((groupId) => ({ groupId, members: groupId.endsWith('windower') ? [{}, {}] : [], state: 'Stable', protocol: '', protocolType: 'consumer', errorCode: 0 })) }),
  };
  return admin as unknown as StatusAdmin & { calls: string[] };
}

test('collect: lag and worst partition per stage, a rate from the second snapshot on, in-flight and dead letters by stage', async () => {
  const topology = buildTopology({ namespace: 'ns', partitions: 3, replicationFactor: 1, minCompactionLagMs: 0 });
  const raw = topology.topics.raw.name;
  const state = { ends: { [raw]: [10, 40, 0], [topology.topics.received.name]: [5, 5, 5] } as Record<string, number[]>, committed: { [topology.group('windower')]: { [raw]: [10, 5, -1] } } as Record<string, Record<string, number[]>> };
  const admin = fakeAdmin(state);
  let now = 1_000_000;
  const sources = {
    admin,
    brokers: ['b:1'],
    now: () => now,
    deadLetters: { count: () => Promise.resolve({ byGroup: new Map([[topology.group('windower'), 3], [topology.group('file-drop'), 2], ['?', 1]]), source: 'read-model+topic' as const, note: null }) },
    inFlight: () => Promise.resolve({ byProcessor: new Map([['windower', 5]]), endpoints: [{ url: 'http://m/metrics', ok: true }] }),
  };
  const history = createRateHistory(2000);

  const first = await collectStatus(topology, sources, history);
  const windower = first.stages.find((s) => s.stage === 'windower')!;
  assert.deepEqual(first.stages.map((s) => s.stage), ['extractor', 'windower', 'enricher', 'validator', 'decider', 'read-model', 'notifier', 'archiver']);
  assert.equal(windower.lag, 35);
  assert.deepEqual(windower.worstPartition, { topic: raw, partition: 1, lag: 35 });
  assert.equal(windower.position, 15);
  assert.equal(windower.rate, null, 'one sample: no rate yet');
  assert.equal(windower.members, 2);
  assert.equal(windower.inFlight, 5);
  assert.equal(windower.deadLetters, 3);
  const enricher = first.stages.find((s) => s.stage === 'enricher')!;
  assert.equal(enricher.inFlight, null, 'no endpoint reports the enricher');
  assert.equal(enricher.deadLetters, 0);
  assert.equal(first.stages.find((s) => s.stage === 'read-model')!.deadLetters, null, 'the read model writes no dead letters');
  assert.deepEqual(first.deadLetters, { total: 6, others: { 'file-drop': 2, undecodable: 1 }, source: 'read-model+topic', note: null });
  assert.deepEqual(first.stateTopics?.find((t) => t.id === 'received'), { id: 'received', topic: topology.topics.received.name, offsets: 15 });
  assert.deepEqual(first.stateTopics?.map((t) => t.id), ['received', 'chunked', 'batches', 'enriched', 'validated', 'accepted', 'rejected']);
  assert.equal(first.cluster.id, 'c1');
  assert.deepEqual(first.errors, []);
  assert.equal(admin.calls.filter((t) => t === topology.topics.received.name).length, 1, 'one watermark request per topic and snapshot');

  // Two seconds later the windower consumed 30 records.
  now += 2000;
  state.committed[topology.group('windower')]![raw] = [10, 35, -1];
  const second = await collectStatus(topology, sources, history);
  const w2 = second.stages.find((s) => s.stage === 'windower')!;
  assert.equal(w2.lag, 5);
  assert.equal(w2.rate, 15);
  assert.equal(second.stages.find((s) => s.stage === 'validator')!.rate, 0);
});

test('collect never throws: a failed or silent source leaves its cells empty and says why', async () => {
  const topology = buildTopology({ namespace: 'ns', partitions: 3, replicationFactor: 1, minCompactionLagMs: 0 });
  const admin = fakeAdmin({ ends: {}, committed: {}, fail: new Set([topology.topics.raw.name]) });
  const snapshot = await collectStatus(topology, {
    admin,
    brokers: ['b:1'],
    timeoutMs: 50,
    deadLetters: { count: () => new Promise(() => undefined) },
    inFlight: () => Promise.reject(new Error('scraper broke')),
  });
  const windower = snapshot.stages.find((s) => s.stage === 'windower')!;
  assert.equal(windower.lag, null);
  assert.equal(windower.deadLetters, null);
  assert.equal(windower.inFlight, null);
  assert.equal(snapshot.stages.find((s) => s.stage === 'enricher')!.lag, 0, 'other stages still read');
  assert.equal(snapshot.deadLetters.total, null);
  assert.deepEqual(
    snapshot.errors.map((e) => `${e.source}: ${e.message}`).sort(),
    ['dead letters: no answer within 50 ms', `lag of windower: no topic ${topology.topics.raw.name}`, 'metrics: scraper broke'],
  );
});

test('dead letters: a count asked for while one is under way shares it, so no range is read twice', async () => {
  const dlq = fakeDlq([['a', 'b']]);
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const counter = createDeadLetterCounter({ watermarks: dlq.watermarks, readModel: null, readRange: async (ranges) => (await gate, dlq.readRange(ranges)) });
  const first = counter.count(['a']);
  const second = counter.count(['a']);
  release();
  const [c1, c2] = await Promise.all([first, second]);
  assert.deepEqual(Object.fromEntries(c1.byGroup), { a: 1, b: 1 });
  assert.deepEqual(Object.fromEntries(c2.byGroup), { a: 1, b: 1 });
  assert.equal(dlq.reads.length, 1);
  await counter.count(['a']);
  assert.equal(dlq.reads.length, 1, 'and a later count reads nothing new');
});
