/**
 * Record data on an operator's terminal: references, finding texts, dead-letter messages and
 * original values come from outside, so no control character, escape sequence or bidi override
 * in them reaches the terminal raw, in `trace`, `dlq list/show` and `status`, text or JSON.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatLetter, formatTable } from '../../cli/commands/dlq.ts';
import { formatTimeline } from '../../cli/commands/trace.ts';
import { printable, printableJson } from '../../cli/printable.ts';
import { renderStatus } from '../../cli/status/render.ts';
import type { StatusSnapshot } from '../../cli/status/snapshot.ts';
import type { DlqEntry } from '../../connectors/dlq.ts';
import type { Timeline } from '../../connectors/read-model/index.ts';
import type { DeadLetter } from '../../schemas/types.ts';
import { sampleRecords } from '../support/samples.ts';

/** Retitles the window, clears the screen, an OSC 8 link, a bell, a C1 CSI, a bidi override, a fake new line. */
const HOSTILE = 'ref\u001b]0;pwned\u0007\u001b[2J\u001b]8;;http://evil.example\u001b\\click\u001b]8;;\u001b\\\u009b31m\u202eexe.pdf\nfake line\r\u2028';

/** No raw control character of any kind, nor a bidi override or line separator. */
function assertInert(text: string, what: string): void {
  // eslint-disable-next-line no-control-regex
  const raw = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/.exec(text);
  assert.equal(raw, null, `${what} prints U+${raw?.[0].charCodeAt(0).toString(16).padStart(4, '0')} raw`);
}

test('printable escapes controls, C1, bidi and separators, and leaves ordinary text alone', () => {
  assert.equal(printable('Müller & Söhne, 4417 Main St. ½ — ok'), 'Müller & Söhne, 4417 Main St. ½ — ok');
  assert.equal(printable('a\u001b[2Jb\nc\td\u0007\u009b\u202e\u2028'), 'a\\e[2Jb\\nc\\td\\x07\\x9b\\u202e\\u2028');
  assertInert(printable(HOSTILE), 'printable');
});

test('printableJson escapes what JSON.stringify leaves raw and still parses to the same value', () => {
  const value = { reference: HOSTILE, nested: [{ message: '\u202e\u0085' }] };
  const json = printableJson(value);
  assertInert(json.replace(/\n/g, ''), 'printableJson');
  assert.deepEqual(JSON.parse(json), value);
});

test('trace escapes the reference, findings, reasons and dead-letter messages', () => {
  const timeline: Timeline = {
    submissionHash: 'ab'.repeat(32),
    status: 'rejected',
    statusAt: 0,
    source: 'http',
    sourceClient: `portal${HOSTILE}`,
    sourceReference: HOSTILE,
    receivedAt: 0,
    batch: null,
    permit: null,
    events: [
      { state: 'received', at: 0, workerId: `w${HOSTILE}`, batchId: null, idempotencyKey: null, traceId: null, attempt: 0, detail: { source: 'http', sourceClient: HOSTILE, sourceReference: HOSTILE, rawOffset: 1, payload: { size: 1, inline: true, objectKey: null }, attachments: [{ kind: HOSTILE }] } },
      { state: 'validated', at: 0, workerId: 'w', batchId: 'b', idempotencyKey: 'k', traceId: 't', attempt: 0, detail: { ruleSetVersion: '1', computedFeeCents: null, paidFeeCents: null, findings: [{ severity: 'ERROR', code: 'X', field: HOSTILE, message: HOSTILE }] } },
      { state: 'rejected', at: 0, workerId: 'w', batchId: 'b', idempotencyKey: 'k', traceId: 't', attempt: 0, detail: { reasons: [{ code: 'X', field: null, message: HOSTILE }] } },
      { state: 'dead_lettered', at: 0, workerId: 'w', batchId: 'b', idempotencyKey: null, traceId: null, attempt: 1, detail: { stage: 'validator', consumerGroup: 'g', errorClass: 'E', errorMessage: HOSTILE, originalTopic: HOSTILE, originalPartition: 0, originalOffset: 0 } },
    ] as Timeline['events'],
  };
  const text = formatTimeline(timeline);
  assertInert(text.replace(/\n/g, ''), 'trace');
  assert.ok(text.includes('ref\\e]0;pwned\\x07\\e[2J'), 'the reference is shown, escaped');
  assert.equal(text.split('\n').filter((l) => l.includes('fake line')).every((l) => !l.startsWith('fake line')), true, 'no line is forged');
});

test('dlq list and show escape the letter, its headers and its original value', () => {
  const sample = sampleRecords().DeadLetter as DeadLetter;
  const letter: DeadLetter = { ...sample, stage: `enricher${HOSTILE}`, errorClass: HOSTILE, errorMessage: HOSTILE, errorChain: [HOSTILE], originalTopic: HOSTILE, originalKey: Buffer.from(HOSTILE), originalHeaders: { [HOSTILE]: HOSTILE }, originalValue: Buffer.from(`not json ${[...HOSTILE].filter((c) => c.charCodeAt(0) >= 0x20).join('')}`) };
  const entry: DlqEntry = { id: '0:1', partition: 0, offset: '1', timestamp: '0', letter, replayedAs: null };
  assertInert(formatTable([entry]).replace(/\n/g, ''), 'dlq list');
  assertInert(formatLetter(entry).replace(/\n/g, ''), 'dlq show');
  assertInert(formatLetter({ ...entry, letter: { ...letter, originalValue: Buffer.from(JSON.stringify({ reference: HOSTILE })) } }).replace(/\n/g, ''), 'dlq show (JSON value)');
});

test('status escapes the stage names and errors it shows', () => {
  const snapshot: StatusSnapshot = {
    time: '2025-03-04T05:06:07.000Z',
    namespace: 'permits',
    cluster: { id: 'c', brokers: ['127.0.0.1:19092'] },
    stages: [],
    deadLetters: { total: 1, others: { [HOSTILE]: 1 }, source: 'topic', note: null },
    stateTopics: null,
    metrics: [],
    errors: [{ source: 'consumer groups', message: HOSTILE }],
  };
  assertInert(renderStatus(snapshot).replace(/\n/g, ''), 'status');
});
