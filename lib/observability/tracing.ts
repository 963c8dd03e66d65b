/**
 * Tracing: W3C trace context in the `traceparent` Kafka header, OpenTelemetry spans when an
 * exporter is configured.
 *
 * Every hop runs inside `inSpan`. With tracing on, that is a span continuing the incoming
 * context (so one submission is one trace from the intake to its decision) and the traceparent
 * passed on is the span's own. With tracing off no span exists and the incoming traceparent is
 * passed on unchanged (a new one is started only where none came in), so turning tracing on in
 * one process still joins the traces of the others, and off costs a regex.
 */
import { randomFillSync } from 'node:crypto';
import { createRequire } from 'node:module';
import { INVALID_TRACEID, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, TraceFlags, type Attributes, type Context, type Link, type Span, type SpanContext, type Tracer } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor, ParentBasedSampler, SimpleSpanProcessor, TraceIdRatioBasedSampler, type SpanExporter } from '@opentelemetry/sdk-trace-node';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import type { Config } from '../config.ts';
import { loggableError, PermitflowError } from '../errors.ts';

export { SpanKind };

const TRACER = 'permitflow';
const PACKAGE_VERSION = (createRequire(import.meta.url)('../../package.json') as { version: string }).version;

// Ids come from a pool filled a few KB at a time: one randomBytes call per record showed in profiles.
const pool = Buffer.alloc(4096);
let poolOffset = pool.length;

function randomHex(bytes: number): string {
  if (poolOffset + bytes > pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const hex = pool.toString('hex', poolOffset, poolOffset + bytes);
  poolOffset += bytes;
  return hex;
}

/** The incoming traceparent when it is valid, else a new sampled root. */
export function continueOrStart(incoming: string | null | undefined): string {
  return spanContextOf(incoming) ? incoming!.trim() : `00-${randomHex(16)}-${randomHex(8)}-01`;
}

export function traceIdOf(traceparent: string | undefined | null): string | null {
  return traceparent && isTraceparent(traceparent) ? traceparent.slice(3, 35) : null;
}

let enabled = false;
/** This process's tracer, looked up once (per span it showed in profiles). */
let tracer: Tracer | undefined;

/** Whether spans are recorded in this process. */
export function tracingEnabled(): boolean {
  return enabled;
}

export interface TracingOptions {
  serviceName: string;
  /** OTLP/HTTP traces endpoint; without it (and without `exporter`) tracing stays off. */
  endpoint?: string;
  /** Share of new traces sampled; a sampled parent is always followed. */
  sampleRatio?: number;
  /** An exporter of one's own (tests: an in-memory one), exported span by span. */
  exporter?: SpanExporter;
}

export interface Tracing {
  enabled: boolean;
  /** Flushes what is buffered and stops exporting. */
  shutdown(): Promise<void>;
}

/** Starts tracing as configured (OTEL_* options); `command` names the service when OTEL_SERVICE_NAME is unset. */
export function startConfiguredTracing(config: Config['tracing'], command: string): Tracing {
  return startTracing({ serviceName: config.serviceName ?? `permitflow-${command}`, sampleRatio: config.sampleRatio, ...(config.endpoint && { endpoint: config.endpoint }) });
}

/** Starts tracing for this process when an endpoint or exporter is given; call once, early. */
export function startTracing(options: TracingOptions): Tracing {
  const exporter = options.exporter ?? (options.endpoint ? new OTLPTraceExporter({ url: options.endpoint }) : undefined);
  if (!exporter) return { enabled: false, shutdown: () => Promise.resolve() };
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: options.serviceName, [ATTR_SERVICE_VERSION]: PACKAGE_VERSION }),
    sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(options.sampleRatio ?? 1) }),
    // A batch span links every member; the default limit (128) would drop most of a full window.
    spanLimits: { linkCountLimit: 10_000 },
    // Batching keeps export off the record path (2,048 spans per request: a quarter of the requests
    // of the default 512 at a windower's rate); an exporter of one's own sees spans at once.
    spanProcessors: [options.exporter ? new SimpleSpanProcessor(exporter) : new BatchSpanProcessor(exporter, { maxQueueSize: 8192, maxExportBatchSize: 2048, scheduledDelayMillis: 1000 })],
  });
  // No context manager on purpose: parents travel explicitly (the traceparent of each record),
  // and Node 20's AsyncLocalStorage would slow every promise of the process (~20% measured).
  trace.setGlobalTracerProvider(provider);
  tracer = undefined;
  enabled = true;
  return {
    enabled: true,
    async shutdown() {
      enabled = false;
      await provider.shutdown();
    },
  };
}

export interface SpanOptions {
  kind: SpanKind;
  attributes?: Attributes;
  /** The traceparent this work continues (a Kafka header, an HTTP header). */
  incoming?: string | null | undefined;
  /** Traceparents this span relates to without being their child (a batch's members). */
  links?: readonly string[];
}

/** 1 for each character code of a lowercase hex digit. */
const LOWER_HEX = new Uint8Array(128);
for (const digit of '0123456789abcdef') LOWER_HEX[digit.charCodeAt(0)] = 1;
const DASH = 45;

/** A version-00 traceparent, checked by hand: a regex was a tenth of a span's cost in profiles (once per record and once per link). */
function isTraceparent(value: string): boolean {
  if (value.length !== 55 || value.charCodeAt(0) !== 48 || value.charCodeAt(1) !== 48) return false;
  if (value.charCodeAt(2) !== DASH || value.charCodeAt(35) !== DASH || value.charCodeAt(52) !== DASH) return false;
  for (let i = 3; i < 55; i++) {
    if (i === 35 || i === 52) continue;
    const code = value.charCodeAt(i);
    if (code > 127 || LOWER_HEX[code] !== 1) return false;
  }
  return true;
}

const INVALID_TRACE = '0'.repeat(32);
const INVALID_SPAN = '0'.repeat(16);

/**
 * The span context a traceparent names, parsed here rather than by the W3C propagator: only
 * the traceparent travels (no tracestate), and the propagator's extract and inject (a carrier,
 * a context per call, a second regex) were a tenth of a span's in-process cost. Parsed once per
 * record and once per link, so no capture groups and no trim unless the header needs one.
 */
function spanContextOf(traceparent: string | null | undefined): SpanContext | undefined {
  if (!traceparent) return undefined;
  const value = traceparent.length === 55 ? traceparent : traceparent.trim();
  if (!isTraceparent(value)) return undefined;
  const traceId = value.slice(3, 35);
  const spanId = value.slice(36, 52);
  if (traceId === INVALID_TRACE || spanId === INVALID_SPAN) return undefined;
  // The sampled flag is the lowest bit of the last hex digit.
  const last = value.charCodeAt(54);
  const sampled = (last <= 57 ? last - 48 : last - 87) & TraceFlags.SAMPLED;
  return { traceId, spanId, traceFlags: sampled, isRemote: true };
}

function contextOf(traceparent: string | null | undefined): Context {
  const spanContext = spanContextOf(traceparent);
  return spanContext ? trace.setSpanContext(ROOT_CONTEXT, spanContext) : ROOT_CONTEXT;
}

function linksOf(traceparents: readonly string[]): Link[] {
  const links: Link[] = [];
  for (const traceparent of traceparents) {
    const context = spanContextOf(traceparent);
    if (context) links.push({ context });
  }
  return links;
}

/** The traceparent of a span (version 00), as the W3C propagator writes it. */
function traceparentOf(span: Span): string {
  const { traceId, spanId, traceFlags } = span.spanContext();
  return `00-${traceId}-${spanId}-0${traceFlags & TraceFlags.SAMPLED}`;
}

/**
 * Runs `work` as one span (tracing on) or with the incoming context (off). `work` gets the
 * traceparent to stamp on what it produces. A thrown error marks the span failed and is rethrown.
 */
export async function inSpan<T>(name: string, options: SpanOptions, work: (traceparent: string, span: Span | undefined) => Promise<T>): Promise<T> {
  if (!enabled) return work(continueOrStart(options.incoming), undefined);
  const parent = contextOf(options.incoming);
  tracer ??= trace.getTracer(TRACER);
  // Attributes are set on the span, not passed to startSpan: that path checks every attribute three
  // times (twice for the sampler, which ours do not read, once on the span) and builds two copies.
  const span = tracer.startSpan(name, { kind: options.kind, ...(options.links && { links: linksOf(options.links) }) }, parent);
  if (options.attributes && span.isRecording()) span.setAttributes(options.attributes);
  try {
    return await work(span.spanContext().traceId === INVALID_TRACEID ? continueOrStart(options.incoming) : traceparentOf(span), span);
  } catch (err) {
    // Exported like a log line: scrubbed of the values libraries quote in their messages.
    const loggable = loggableError(err);
    span.recordException({ name: loggable.type, message: loggable.message, ...(loggable.stack !== undefined && { stack: loggable.stack }), ...(loggable.code !== undefined && { code: loggable.code }) });
    span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof PermitflowError ? err.code : err instanceof Error ? err.name : 'error' });
    throw err;
  } finally {
    span.end();
  }
}

/** Attribute names of the OpenTelemetry messaging conventions used by the Kafka hops. */
export const MESSAGING = {
  system: 'messaging.system',
  operationType: 'messaging.operation.type',
  operationName: 'messaging.operation.name',
  destination: 'messaging.destination.name',
  partition: 'messaging.destination.partition.id',
  consumerGroup: 'messaging.consumer.group.name',
  offset: 'messaging.kafka.offset',
  key: 'messaging.kafka.message.key',
  batchCount: 'messaging.batch.message_count',
} as const;
