import assert from 'node:assert/strict';
import { test } from 'node:test';
import { describeBytes, toFilter } from '../../cli/commands/dlq.ts';
import { createPacer, linkReplays, matchesFilter, replayMessage, replayTargets, skipDetail, skipReason, type DlqEntry } from '../../connectors/dlq.ts';
import { deadLetter } from '../../lib/dead-letter.ts';
import type { DeadLetter } from '../../schemas/types.ts';
import { buildTopology } from '../../topology/topics.ts';
import { sampleRecords } from '../support/samples.ts';

const topology = buildTopology({ namespace: 'permits', partitions: 6, replicationFactor: 1, minCompactionLagMs: 0 });
const sample = sampleRecords().DeadLetter as DeadLetter;

function entry(id: string, over: Partial<DeadLetter> = {}): DlqEntry {
  const [partition, offset] = id.split(':');
  return { id, partition: Number(partition), offset: offset!, timestamp: '0', letter: { ...sample, ...over }, replayedAs: null };
}

test('filters by stage, error class, time range, batch and hash prefix', () => {
  const l: DeadLetter = { ...sample, stage: 'enricher', errorClass: 'PF_LOOKUP_EXHAUSTED', lastFailureAt: 1000, batchId: 'b-1', submissionHash: 'abcdef01' };
  assert.ok(matchesFilter(l, {}));
  assert.ok(matchesFilter(l, { stage: 'enricher', errorClass: 'PF_LOOKUP_EXHAUSTED', since: 1000, until: 1000, batchId: 'b-1', submissionHash: 'ABCD' }));
  assert.equal(matchesFilter(l, { stage: 'windower' }), false);
  assert.equal(matchesFilter(l, { errorClass: 'PF_DECODE_FAILED' }), false);
  assert.equal(matchesFilter(l, { since: 1001 }), false);
  assert.equal(matchesFilter(l, { until: 999 }), false);
  assert.equal(matchesFilter(l, { batchId: 'b-2' }), false);
  assert.equal(matchesFilter(l, { submissionHash: 'abd' }), false);
  assert.equal(matchesFilter({ ...l, submissionHash: null }, { submissionHash: 'a' }), false);
});

test('CLI filter options: ISO times parse, bad times are refused', () => {
  assert.deepEqual(toFilter({ stage: 'windower', since: '2026-01-01T00:00:00Z', batch: 'b' }), { stage: 'windower', since: Date.parse('2026-01-01T00:00:00Z'), batchId: 'b' });
  assert.throws(() => toFilter({ until: 'yesterday' }), /--until expects an ISO 8601 time/);
});

test('a letter replayed that failed again is linked to its parked successor and not replayed twice', () => {
  const raw = topology.topics.raw.name;
  const entries = linkReplays([
    entry('0:5', { originalTopic: raw }),
    entry('0:9', { originalTopic: raw, parked: true, originalHeaders: { 'permitflow-replay-of': '0:5' } }),
    entry('1:2', { originalTopic: raw }),
    entry('2:0', { originalTopic: 'export.csv', originalPartition: -1 }),
    entry('2:1', { originalTopic: raw, originalValue: null }),
  ]);
  assert.equal(entries[0]!.replayedAs, '0:9');
  assert.deepEqual(entries.map((e) => skipReason(e, topology)), ['already replayed', 'parked', null, 'not from a topic', 'no original value']);
  assert.equal(skipReason(entries[1]!, topology, true), null, '--include-parked');
});

test('a replayed record carries its original bytes and the replay headers', () => {
  const e = entry('3:7', { originalHeaders: { traceparent: 'tp' }, originalPartition: 2 });
  const m = replayMessage(e, Date.parse('2026-11-29T00:00:00Z'));
  assert.deepEqual(m.value, sample.originalValue);
  assert.deepEqual(m.key, sample.originalKey);
  assert.equal(m.partition, 2);
  assert.deepEqual(m.headers, { traceparent: 'tp', 'permitflow-replay-of': '3:7', 'permitflow-replayed-at': '2026-11-29T00:00:00.000Z' });
});

test('a failure of a replayed record is parked; others are not', () => {
  const base = { stage: 'windower', consumerGroup: 'g', topic: 't', partition: 0, workerId: 'w' };
  const message = { key: Buffer.from('k'), value: Buffer.from('v'), offset: '3', timestamp: '1', attributes: 0, headers: {} as Record<string, Buffer> };
  assert.equal(deadLetter({ ...base, message }, new Error('x')).parked, false);
  assert.equal(deadLetter({ ...base, message: { ...message, headers: { 'permitflow-replay-of': Buffer.from('0:1') } } }, new Error('x')).parked, true);
});

test('the pacer spaces calls to the rate, without sleeping when behind', async () => {
  let clock = 0;
  const sleeps: number[] = [];
  const pace = createPacer(4, () => clock, (ms) => {
    sleeps.push(ms);
    clock += ms;
    return Promise.resolve();
  });
  const at: number[] = [];
  for (let i = 0; i < 5; i++) {
    await pace();
    at.push(clock);
  }
  assert.deepEqual(at, [0, 250, 500, 750, 1000]);
  clock += 2000; // a slow send: no catch-up burst beyond the next slot
  await pace();
  await pace();
  assert.equal(sleeps.at(-1), 250);
  assert.throws(() => createPacer(0), /rate must be a positive number/);
});

test('dlq show prints JSON as JSON, text as text, and binary as hex and base64', () => {
  assert.deepEqual(describeBytes(Buffer.from('{"a":1}')), ['{', '  "a": 1', '}']);
  assert.deepEqual(describeBytes(Buffer.from('not avro')), ['(text, not JSON) not avro']);
  const binary = describeBytes(Buffer.from([0, 0, 0, 0, 3, 255]));
  assert.match(binary[1]!, /hex +0000000003ff/);
  assert.match(binary[2]!, /base64 AAAAAAP\//);
  assert.deepEqual(describeBytes(null), ['(none)']);
});

test('a replay goes only to an input topic of the stage the letter names, never to a state topic or the DLQ', () => {
  const t = topology.topics;
  assert.deepEqual(
    [...replayTargets(topology)].map(([name, { stage }]) => `${name}<-${stage}`).sort(),
    [`${t.extract.name}<-extractor`, `${t.raw.name}<-windower`, `${t.chunked.name}<-enricher`, `${t.retryEnrich1.name}<-enricher`, `${t.retryEnrich2.name}<-enricher`, `${t.retryEnrich3.name}<-enricher`, `${t.enriched.name}<-validator`, `${t.validated.name}<-decider`].sort(),
  );
  assert.equal(skipReason(entry('0:1', { stage: 'windower', originalTopic: t.raw.name }), topology), null);
  assert.equal(skipReason(entry('0:2', { stage: 'enricher', originalTopic: t.retryEnrich2.name }), topology), null);
  for (const id of ['accepted', 'rejected', 'received', 'batches', 'dlq'] as const) {
    assert.equal(skipReason(entry('0:3', { stage: 'decider', originalTopic: t[id].name }), topology), 'not an input of its stage', id);
  }
  // A letter that names another stage's input is refused too: the canary would wait on the wrong group.
  const misnamed = entry('0:4', { stage: 'validator', originalTopic: t.raw.name });
  assert.equal(skipReason(misnamed, topology), 'not an input of its stage');
  assert.match(skipDetail(entry('0:5', { stage: 'decider', originalTopic: t.accepted.name }), 'not an input of its stage', topology), /^refused: permits\.state\.accepted is not an input of stage decider; replays go only to permits\.submissions\.extract, permits\.submissions\.raw, /);
});

test('a letter whose replay is recorded is skipped unless forced', () => {
  const e = entry('2:9', { stage: 'windower', originalTopic: topology.topics.raw.name });
  assert.equal(skipReason(e, topology, false, new Set(['2:9'])), 'already replayed');
  assert.equal(skipReason(e, topology, false, new Set(['2:9']), true), null, '--force');
  assert.equal(skipReason(e, topology, false, new Set(['2:8'])), null);
  assert.match(skipDetail(e, 'already replayed', topology), /--force replays it again/);
});
