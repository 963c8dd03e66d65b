/**
 * tracing.ts exports spans with its own OTLP/protobuf encoder (lib/observability/otlp-protobuf.ts)
 * because the reference serializer was most of tracing's cost per record. Its output must be the
 * reference's, byte for byte, for every shape a span can take: attributes of each value type,
 * links (a batch's members, hundreds of them), events (a recorded exception), status, unsampled
 * and remote parents, several resources, long and non-ASCII strings.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, TraceFlags, type Link } from '@opentelemetry/api';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-node';
import { encodeTraceRequest } from '../../lib/observability/otlp-protobuf.ts';
import { otlpTraceExporter } from '../../lib/observability/tracing.ts';

function spansOf(serviceName: string, count: number): ReturnType<InMemorySpanExporter['getFinishedSpans']> {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': serviceName, 'service.version': '1.2.3', 'host.cores': 2, 'deployment.flags': ['a', 'b'] }),
    spanLimits: { linkCountLimit: 10_000 },
    spanProcessors: [new SimpleSpanProcessor(exporter)],
  });
  const tracer = provider.getTracer('permitflow', '0.1.0');
  const links: Link[] = Array.from({ length: 600 }, (_, n) => ({
    context: { traceId: n.toString(16).padStart(32, 'a'), spanId: n.toString(16).padStart(16, 'b'), traceFlags: n % 2 ? TraceFlags.SAMPLED : TraceFlags.NONE, isRemote: n % 3 === 0 },
    ...(n % 50 === 0 && { attributes: { member: n } }),
  }));
  for (let n = 0; n < count; n++) {
    const parent = { traceId: 'f'.repeat(31) + String(n % 10), spanId: '1'.repeat(15) + String(n % 10), traceFlags: TraceFlags.SAMPLED, isRemote: n % 2 === 0 };
    const span = tracer.startSpan(
      n % 7 === 0 ? 'close batch' : `process permits.submissions.raw.${n % 3}`,
      { kind: (n % 5) as SpanKind, ...(n % 7 === 0 && { links }) },
      // Every fourth a root, the others children of a remote or local parent.
      n % 4 === 0 ? ROOT_CONTEXT : trace.setSpanContext(ROOT_CONTEXT, parent),
    );
    span.setAttributes({
      'messaging.system': 'kafka',
      'messaging.destination.partition.id': String(n % 6),
      'messaging.kafka.offset': n * 1_000_003,
      'messaging.kafka.message.key': 'c'.repeat(64),
      'big.int': 2 ** 40 + n,
      'negative.int': -n - 1,
      'a.double': n + 0.25,
      'a.flag': n % 2 === 0,
      'strings': ['x', 'é', 'y'.repeat(200)],
      'numbers': [1, 2.5, -3],
      'non.ascii': 'Straße 12, Zürich ✓ 🏗',
      'long': 'z'.repeat(20_000),
    });
    if (n % 3 === 0) span.recordException({ name: 'PermitflowError', message: 'lookup failed', code: 'PF_X', stack: 'at a\nat b' });
    if (n % 3 === 0) span.setStatus({ code: SpanStatusCode.ERROR, message: 'PF_X' });
    if (n % 3 === 1) span.setStatus({ code: SpanStatusCode.OK });
    span.end();
  }
  return exporter.getFinishedSpans();
}

test('the encoder writes what the reference serializer writes, byte for byte', () => {
  const spans = [...spansOf('permitflow-windower', 40), ...spansOf('permitflow-enricher', 3)];
  const reference = ProtobufTraceSerializer.serializeRequest(spans)!;
  const ours = encodeTraceRequest(spans);
  assert.ok(ours.length > 100_000, 'a request with long strings and a batch span, past every length size');
  assert.equal(Buffer.compare(Buffer.from(ours), Buffer.from(reference)), 0);
  assert.equal(Buffer.compare(Buffer.from(encodeTraceRequest([])), Buffer.from(ProtobufTraceSerializer.serializeRequest([])!)), 0);
});

test("the process's OTLP exporter posts that encoding to the endpoint as application/x-protobuf", async (t) => {
  const received: { url: string | undefined; type: string | undefined; body: Buffer }[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      received.push({ url: req.url, type: req.headers['content-type'], body: Buffer.concat(chunks) });
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  const exporter = otlpTraceExporter(`http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/traces`);
  t.after(() => exporter.shutdown());
  const spans = spansOf('permitflow-windower', 8);
  const result = await new Promise<{ code: number; error?: Error }>((resolve) => exporter.export(spans, resolve));
  assert.equal(result.code, 0, `exported (ExportResultCode.SUCCESS): ${result.error?.message}`);
  assert.equal(received.length, 1);
  assert.equal(received[0]!.url, '/v1/traces');
  assert.equal(received[0]!.type, 'application/x-protobuf');
  assert.equal(Buffer.compare(received[0]!.body, Buffer.from(ProtobufTraceSerializer.serializeRequest(spans)!)), 0);
});
