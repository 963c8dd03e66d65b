/**
 * Finished spans as an OTLP `ExportTraceServiceRequest` in protobuf, byte for byte what
 * @opentelemetry/otlp-transformer's ProtobufTraceSerializer writes (test/unit/otlp-protobuf.test.ts
 * compares the two), at a fraction of its CPU. Every span of a stage is encoded, and that
 * serializer was most of what tracing cost the windower: it walks every span twice (a size
 * estimate, then the writing), copies each id through a per-character hex decoder into a new array
 * and writes every string character by character. Here: one pass into a growing buffer, ids
 * decoded by Buffer's native hex writer, and the encoding of attribute keys and span names (a
 * small, fixed set) kept.
 */
import type { Attributes, HrTime, Link, SpanStatus } from '@opentelemetry/api';
import type { ReadableSpan, TimedEvent } from '@opentelemetry/sdk-trace-node';

type Resource = ReadableSpan['resource'];
type Scope = ReadableSpan['instrumentationScope'];

const LENGTH_DELIMITED = 2;
const VARINT = 0;
const FIXED64 = 1;
const FIXED32 = 5;
const HAS_IS_REMOTE = 0x100;
const IS_REMOTE = 0x200;
const MIN_INT64 = -(2 ** 63);
const MAX_INT64 = 2 ** 63;

function varintSize(value: number): number {
  if (value < 0) return 10;
  let size = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 0x80);
    size++;
  }
  return size;
}

/** The value of each hex digit by character code. */
const HEX = new Uint8Array(128);
for (let digit = 0; digit < 16; digit++) {
  HEX['0123456789abcdef'.charCodeAt(digit)] = digit;
  HEX['0123456789ABCDEF'.charCodeAt(digit)] = digit;
}

/** Encoded names (attribute keys, span names): a bounded set in practice; capped so an unbounded one cannot grow it. */
const NAME_CACHE_LIMIT = 1024;
const names = new Map<string, Buffer>();

class Writer {
  buf: Buffer;
  pos = 0;

  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(size);
  }

  ensure(bytes: number): void {
    if (this.pos + bytes <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + bytes) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  varint(value: number): void {
    this.ensure(10);
    const buf = this.buf;
    if (value >= 0 && value <= 0xffffffff) {
      let v = value >>> 0;
      while (v > 0x7f) {
        buf[this.pos++] = (v & 0x7f) | 0x80;
        v >>>= 7;
      }
      buf[this.pos++] = v;
      return;
    }
    // 64-bit, negative ones in two's complement (ten bytes), as the reference writer does.
    const abs = Math.abs(value);
    let low = abs >>> 0;
    let high = (abs / 0x100000000) >>> 0;
    if (value < 0) {
      low = ~low >>> 0;
      high = ~high >>> 0;
      low = (low + 1) >>> 0;
      if (low === 0) high = (high + 1) >>> 0;
    }
    while (high > 0 || low > 0x7f) {
      buf[this.pos++] = (low & 0x7f) | 0x80;
      low = ((low >>> 7) | (high << 25)) >>> 0;
      high >>>= 7;
    }
    buf[this.pos++] = low & 0x7f;
  }

  tag(field: number, wireType: number): void {
    this.varint((field << 3) | wireType);
  }

  fixed32(value: number): void {
    this.ensure(4);
    this.buf.writeUInt32LE(value >>> 0, this.pos);
    this.pos += 4;
  }

  fixed64(low: number, high: number): void {
    this.ensure(8);
    this.buf.writeUInt32LE(low >>> 0, this.pos);
    this.buf.writeUInt32LE(high >>> 0, this.pos + 4);
    this.pos += 8;
  }

  double(value: number): void {
    this.ensure(8);
    this.buf.writeDoubleLE(value, this.pos);
    this.pos += 8;
  }

  string(value: string): void {
    const length = value.length;
    // Most strings are short ASCII: written in one pass, the length (one byte) before them.
    if (length < 0x80) {
      this.ensure(length + 1);
      const buf = this.buf;
      let at = this.pos + 1;
      let i = 0;
      for (; i < length; i++) {
        const code = value.charCodeAt(i);
        if (code > 0x7f) break;
        buf[at++] = code;
      }
      if (i === length) {
        buf[this.pos] = length;
        this.pos = at;
        return;
      }
    }
    const bytes = Buffer.byteLength(value);
    this.varint(bytes);
    this.ensure(bytes);
    this.buf.write(value, this.pos, bytes, 'utf8');
    this.pos += bytes;
  }

  /** A string from a small set (attribute keys, span names): encoded once. */
  name(value: string): void {
    let encoded = names.get(value);
    if (!encoded) {
      encoded = Buffer.from(value);
      if (names.size < NAME_CACHE_LIMIT) names.set(value, encoded);
    }
    this.bytes(encoded);
  }

  bytes(value: Uint8Array): void {
    const length = value.length;
    this.varint(length);
    this.ensure(length);
    // A native copy costs more than a loop for the short names this mostly copies.
    if (length < 64) {
      const buf = this.buf;
      for (let i = 0; i < length; i++) buf[this.pos + i] = value[i]!;
    } else {
      this.buf.set(value, this.pos);
    }
    this.pos += length;
  }

  /** An id (lowercase or uppercase hex) as bytes. */
  hex(value: string): void {
    const length = value.length >>> 1;
    this.varint(length);
    this.ensure(length);
    const buf = this.buf;
    for (let i = 0; i < length; i++) buf[this.pos + i] = (HEX[value.charCodeAt(2 * i)]! << 4) | HEX[value.charCodeAt(2 * i + 1)]!;
    this.pos += length;
  }

  /** Reserves a guess of the length's size; `end` moves the message if the guess was wrong. */
  begin(reserved: number): number {
    this.ensure(reserved);
    this.pos += reserved;
    return this.pos;
  }

  end(start: number, reserved: number): void {
    const length = this.pos - start;
    const size = varintSize(length);
    if (size !== reserved) {
      this.ensure(size - reserved);
      this.buf.copyWithin(start - reserved + size, start, this.pos);
      this.pos += size - reserved;
    }
    const end = this.pos;
    this.pos = start - reserved;
    this.varint(length);
    this.pos = end;
  }
}

/** Nanoseconds since the epoch as fixed64, without losing precision past 2^53 (the reference's arithmetic). */
function hrTime(w: Writer, time: HrTime): void {
  const [seconds, nanos] = time;
  const lower = (seconds & 0xffff) * 1e9;
  const upper = ((seconds / 0x10000) >>> 0) * 1e9;
  const low = (lower >>> 0) + ((((upper & 0xffff) * 0x10000) >>> 0) + nanos);
  const high = Math.floor(lower / 0x100000000) + ((upper / 0x10000) >>> 0) + Math.floor(low / 0x100000000);
  w.fixed64(low >>> 0, high >>> 0);
}

function anyValue(w: Writer, value: unknown): void {
  switch (typeof value) {
    case 'string':
      w.tag(1, LENGTH_DELIMITED);
      w.string(value);
      return;
    case 'boolean':
      w.tag(2, VARINT);
      w.varint(value ? 1 : 0);
      return;
    case 'number':
      if (Number.isInteger(value) && value >= MIN_INT64 && value < MAX_INT64) {
        w.tag(3, VARINT);
        w.varint(value);
      } else {
        w.tag(4, FIXED64);
        w.double(value);
      }
      return;
  }
  if (value instanceof Uint8Array) {
    w.tag(7, LENGTH_DELIMITED);
    w.bytes(value);
  } else if (Array.isArray(value)) {
    w.tag(5, LENGTH_DELIMITED);
    const array = w.begin(1);
    for (const item of value) {
      w.tag(1, LENGTH_DELIMITED);
      const start = w.begin(1);
      anyValue(w, item);
      w.end(start, 1);
    }
    w.end(array, 1);
  } else if (typeof value === 'object' && value !== null) {
    w.tag(6, LENGTH_DELIMITED);
    const list = w.begin(1);
    for (const key in value) {
      if (!Object.prototype.hasOwnProperty.call(value, key)) continue;
      w.tag(1, LENGTH_DELIMITED);
      keyValue(w, key, (value as Record<string, unknown>)[key]);
    }
    w.end(list, 1);
  }
}

function keyValue(w: Writer, key: string, value: unknown): void {
  const start = w.begin(1);
  w.tag(1, LENGTH_DELIMITED);
  w.name(key);
  w.tag(2, LENGTH_DELIMITED);
  const valueStart = w.begin(1);
  anyValue(w, value);
  w.end(valueStart, 1);
  w.end(start, 1);
}

function attributes(w: Writer, attrs: Attributes, field: number): void {
  for (const key in attrs) {
    if (!Object.prototype.hasOwnProperty.call(attrs, key)) continue;
    w.tag(field, LENGTH_DELIMITED);
    keyValue(w, key, attrs[key]);
  }
}

function flags(traceFlags: number, isRemote: boolean | undefined): number {
  return (traceFlags & 0xff) | HAS_IS_REMOTE | (isRemote ? IS_REMOTE : 0);
}

function event(w: Writer, e: TimedEvent): void {
  const start = w.begin(1);
  w.tag(1, FIXED64);
  hrTime(w, e.time);
  w.tag(2, LENGTH_DELIMITED);
  w.name(e.name);
  if (e.attributes) attributes(w, e.attributes, 3);
  w.tag(4, VARINT);
  w.varint(e.droppedAttributesCount || 0);
  w.end(start, 1);
}

function link(w: Writer, l: Link): void {
  const start = w.begin(1);
  w.tag(1, LENGTH_DELIMITED);
  w.hex(l.context.traceId);
  w.tag(2, LENGTH_DELIMITED);
  w.hex(l.context.spanId);
  const traceState = l.context.traceState?.serialize();
  if (traceState) {
    w.tag(3, LENGTH_DELIMITED);
    w.string(traceState);
  }
  if (l.attributes) attributes(w, l.attributes, 4);
  w.tag(5, VARINT);
  w.varint(l.droppedAttributesCount || 0);
  w.tag(6, FIXED32);
  w.fixed32(flags(l.context.traceFlags, l.context.isRemote));
  w.end(start, 1);
}

function status(w: Writer, s: SpanStatus): void {
  const start = w.begin(1);
  if (s.message) {
    w.tag(2, LENGTH_DELIMITED);
    w.string(s.message);
  }
  w.tag(3, VARINT);
  w.varint(s.code);
  w.end(start, 1);
}

function span(w: Writer, s: ReadableSpan): void {
  // Most spans are 128 bytes to 16 KiB: two bytes of length.
  const start = w.begin(2);
  const context = s.spanContext();
  w.tag(1, LENGTH_DELIMITED);
  w.hex(context.traceId);
  w.tag(2, LENGTH_DELIMITED);
  w.hex(context.spanId);
  const traceState = context.traceState?.serialize();
  if (traceState) {
    w.tag(3, LENGTH_DELIMITED);
    w.string(traceState);
  }
  if (s.parentSpanContext?.spanId) {
    w.tag(4, LENGTH_DELIMITED);
    w.hex(s.parentSpanContext.spanId);
  }
  w.tag(5, LENGTH_DELIMITED);
  w.name(s.name);
  // The API's kinds start at 0, OTLP's at 1 (0 is unspecified).
  const kind = s.kind == null ? 0 : s.kind + 1;
  if (kind !== 0) {
    w.tag(6, VARINT);
    w.varint(kind);
  }
  w.tag(7, FIXED64);
  hrTime(w, s.startTime);
  w.tag(8, FIXED64);
  hrTime(w, s.endTime);
  attributes(w, s.attributes, 9);
  w.tag(10, VARINT);
  w.varint(s.droppedAttributesCount);
  for (const e of s.events) {
    w.tag(11, LENGTH_DELIMITED);
    event(w, e);
  }
  w.tag(12, VARINT);
  w.varint(s.droppedEventsCount);
  for (const l of s.links) {
    w.tag(13, LENGTH_DELIMITED);
    link(w, l);
  }
  w.tag(14, VARINT);
  w.varint(s.droppedLinksCount);
  w.tag(15, LENGTH_DELIMITED);
  status(w, s.status);
  w.tag(16, FIXED32);
  w.fixed32(flags(context.traceFlags, s.parentSpanContext?.isRemote));
  w.end(start, 2);
}

function scope(w: Writer, sc: Scope): void {
  w.tag(1, LENGTH_DELIMITED);
  const start = w.begin(1);
  w.tag(1, LENGTH_DELIMITED);
  w.string(sc.name);
  if (sc.version) {
    w.tag(2, LENGTH_DELIMITED);
    w.string(sc.version);
  }
  const scopeWithAttributes = sc as Scope & { attributes?: Attributes; droppedAttributesCount?: number };
  if (scopeWithAttributes.attributes) attributes(w, scopeWithAttributes.attributes, 3);
  if (scopeWithAttributes.droppedAttributesCount) {
    w.tag(4, VARINT);
    w.varint(scopeWithAttributes.droppedAttributesCount);
  }
  w.end(start, 1);
}

function resource(w: Writer, r: Resource): void {
  w.tag(1, LENGTH_DELIMITED);
  const start = w.begin(2);
  attributes(w, r.attributes, 1);
  w.tag(2, VARINT);
  w.varint(0);
  w.end(start, 2);
}

/** The request carrying `spans`, grouped by resource and scope (by identity, as the reference does). */
export function encodeTraceRequest(spans: readonly ReadableSpan[]): Uint8Array {
  const byResource = new Map<Resource, Map<Scope, ReadableSpan[]>>();
  for (const s of spans) {
    let byScope = byResource.get(s.resource);
    if (!byScope) byResource.set(s.resource, (byScope = new Map<Scope, ReadableSpan[]>()));
    let list = byScope.get(s.instrumentationScope);
    if (!list) byScope.set(s.instrumentationScope, (list = []));
    list.push(s);
  }
  // About 500 bytes a span; a batch's span with its links more.
  const w = new Writer(Math.max(4096, spans.length * 640));
  for (const [r, byScope] of byResource) {
    w.tag(1, LENGTH_DELIMITED);
    const resourceSpans = w.begin(3);
    resource(w, r);
    for (const list of byScope.values()) {
      const sc = list[0]!.instrumentationScope;
      w.tag(2, LENGTH_DELIMITED);
      const scopeSpans = w.begin(3);
      scope(w, sc);
      for (const s of list) {
        w.tag(2, LENGTH_DELIMITED);
        span(w, s);
      }
      if (sc.schemaUrl) {
        w.tag(3, LENGTH_DELIMITED);
        w.string(sc.schemaUrl);
      }
      w.end(scopeSpans, 3);
    }
    if (r.schemaUrl) {
      w.tag(3, LENGTH_DELIMITED);
      w.string(r.schemaUrl);
    }
    w.end(resourceSpans, 3);
  }
  return w.buf.subarray(0, w.pos);
}
