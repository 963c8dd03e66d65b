/**
 * inSpan with tracing on: the span continues the incoming traceparent, the traceparent handed
 * to the work names the span itself (what the next hop continues), links name a batch's
 * members, and an invalid incoming traceparent starts a new trace. tracing.ts parses and writes
 * traceparents itself (not through the W3C propagator), so this pins the format both ways.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-node';
import { inSpan, SpanKind, startTracing, traceIdOf } from '../../lib/observability/tracing.ts';

const exporter = new InMemorySpanExporter();
const tracing = startTracing({ serviceName: 'permitflow-unit', exporter });
after(() => tracing.shutdown());

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT = '00f067aa0ba902b7';

test('a span continues the incoming trace and hands on its own traceparent', async () => {
  exporter.reset();
  const handedOn = await inSpan('process raw', { kind: SpanKind.CONSUMER, incoming: `00-${TRACE}-${PARENT}-01` }, (traceparent) => Promise.resolve(traceparent));
  const [span] = exporter.getFinishedSpans();
  assert.ok(span);
  assert.equal(span.spanContext().traceId, TRACE);
  assert.equal(span.parentSpanContext?.spanId, PARENT);
  assert.equal(handedOn, `00-${TRACE}-${span.spanContext().spanId}-01`);
});

test('links name the members; a malformed or all-zero traceparent starts a new trace', async () => {
  exporter.reset();
  const member = `00-${'a'.repeat(32)}-${'b'.repeat(16)}-01`;
  await inSpan('close batch', { kind: SpanKind.INTERNAL, links: [member, 'garbage', `00-${'0'.repeat(32)}-${'b'.repeat(16)}-01`, `00-${'a'.repeat(32)}-${'g'.repeat(16)}-01`, `01-${'a'.repeat(32)}-${'b'.repeat(16)}-01`, `00-${'a'.repeat(32)}_${'b'.repeat(16)}-01`, `${member}0`] }, () => Promise.resolve());
  const handedOn = await inSpan('process raw', { kind: SpanKind.CONSUMER, incoming: `00-${'0'.repeat(32)}-${PARENT}-01` }, (traceparent) => Promise.resolve(traceparent));
  const [batch, fresh] = exporter.getFinishedSpans();
  assert.deepEqual(
    batch!.links.map((l) => [l.context.traceId, l.context.spanId]),
    [['a'.repeat(32), 'b'.repeat(16)]],
  );
  assert.notEqual(fresh!.spanContext().traceId, '0'.repeat(32));
  assert.equal(fresh!.parentSpanContext, undefined);
  assert.match(handedOn, new RegExp(`^00-${fresh!.spanContext().traceId}-${fresh!.spanContext().spanId}-01$`));
});

test('an unsampled incoming trace stays unsampled: no span recorded, and the flag handed on is 00', async () => {
  exporter.reset();
  const handedOn = await inSpan('process raw', { kind: SpanKind.CONSUMER, incoming: `00-${TRACE}-${PARENT}-00` }, (traceparent) => Promise.resolve(traceparent));
  assert.deepEqual(exporter.getFinishedSpans(), []);
  assert.match(handedOn, new RegExp(`^00-${TRACE}-[0-9a-f]{16}-00$`));
});

test('a traceparent is read by its flags and tolerates surrounding whitespace; a malformed one starts a new trace', async () => {
  exporter.reset();
  // The sampled flag is bit 0 of the flags byte: 'ff' and '0b' are sampled, '02' is not.
  const sampled = await inSpan('process raw', { kind: SpanKind.CONSUMER, incoming: ` 00-${TRACE}-${PARENT}-ff\t`, attributes: { 'messaging.system': 'kafka' } }, (traceparent) => Promise.resolve(traceparent));
  const odd = await inSpan('process raw', { kind: SpanKind.CONSUMER, incoming: `00-${TRACE}-${PARENT}-0b` }, (traceparent) => Promise.resolve(traceparent));
  const unsampled = await inSpan('process raw', { kind: SpanKind.CONSUMER, incoming: `00-${TRACE}-${PARENT}-02` }, (traceparent) => Promise.resolve(traceparent));
  const upper = await inSpan('process raw', { kind: SpanKind.CONSUMER, incoming: `00-${TRACE.toUpperCase()}-${PARENT}-01` }, (traceparent) => Promise.resolve(traceparent));
  const spans = exporter.getFinishedSpans();
  assert.equal(spans.length, 3, 'the 02-flagged trace records no span');
  const [first, second, fresh] = spans;
  assert.equal(first!.parentSpanContext?.spanId, PARENT);
  assert.equal(first!.attributes['messaging.system'], 'kafka', 'attributes land on the span');
  assert.equal(sampled, `00-${TRACE}-${first!.spanContext().spanId}-01`);
  assert.equal(odd, `00-${TRACE}-${second!.spanContext().spanId}-01`);
  assert.match(unsampled, new RegExp(`^00-${TRACE}-[0-9a-f]{16}-00$`));
  assert.notEqual(fresh!.spanContext().traceId, TRACE);
  assert.equal(fresh!.parentSpanContext, undefined);
  assert.equal(upper, `00-${fresh!.spanContext().traceId}-${fresh!.spanContext().spanId}-01`);
});

test('traceIdOf reads the trace id of a well-formed traceparent only (the traceId field of log lines)', () => {
  const traceId = 'a'.repeat(32);
  assert.equal(traceIdOf(`00-${traceId}-${'b'.repeat(16)}-01`), traceId);
  for (const bad of [undefined, null, '', 'garbage', `01-${traceId}-${'b'.repeat(16)}-01`, `00-${'A'.repeat(32)}-${'b'.repeat(16)}-01`, `00-${traceId}-${'b'.repeat(16)}-01 `]) {
    assert.equal(traceIdOf(bad), null, String(bad));
  }
});
