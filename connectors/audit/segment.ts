/**
 * The archive's layout and formats, shared by the archiver, `audit verify` and `audit show`.
 *
 * A segment is a run of one partition's records, in offset order, as gzip-compressed JSON Lines:
 * each line keeps the record's exact bytes (base64, Confluent wire format with its registry
 * schema id) and, so the archive reads without Kafka or the registry, the value decoded.
 * Its manifest names the offsets it covers, its SHA-256 and the previous segment's (a hash
 * chain per partition). Offsets are zero-padded so key order is offset order.
 *
 *   audit/<topic>/<partition>/<first offset>-<last offset>.jsonl.gz
 *   audit/<topic>/<partition>/<start offset>.manifest.json   (start: where the segment's read began)
 *   audit/_roots/<namespace>/<sealed at>.json                (signed heads of every chain)
 *
 * The manifest is keyed by its start offset, which is the previous segment's next offset: a
 * conditional put on it lets exactly one segment follow each one, so two archivers that both
 * think they own a partition (a rebalance in flight) cannot fork the chain.
 */
import { gunzipSync, gzipSync } from 'node:zlib';
import { sha256Hex } from '../../domain/hashing.ts';
import { PermitflowError } from '../../lib/errors.ts';

export const AUDIT_PREFIX = 'audit';
const PAD = 20;

export const pad = (offset: bigint): string => offset.toString().padStart(PAD, '0');
export const partitionPrefix = (topic: string, partition: number): string => `${AUDIT_PREFIX}/${topic}/${partition}/`;
export const segmentKey = (topic: string, partition: number, first: bigint, last: bigint): string => `${partitionPrefix(topic, partition)}${pad(first)}-${pad(last)}.jsonl.gz`;
export const manifestKey = (topic: string, partition: number, start: bigint): string => `${partitionPrefix(topic, partition)}${pad(start)}.manifest.json`;
export const rootsPrefix = (namespace: string): string => `${AUDIT_PREFIX}/_roots/${namespace}/`;

const SEGMENT_KEY = /\/(\d{20})-(\d{20})\.jsonl\.gz$/;
const MANIFEST_KEY = /\/(\d{20})\.manifest\.json$/;

export function parseSegmentKey(key: string): { first: bigint; last: bigint } | undefined {
  const m = SEGMENT_KEY.exec(key);
  return m ? { first: BigInt(m[1]!), last: BigInt(m[2]!) } : undefined;
}

export function parseManifestKey(key: string): bigint | undefined {
  const m = MANIFEST_KEY.exec(key);
  return m ? BigInt(m[1]!) : undefined;
}


/** One archived record. Offsets and timestamps are decimal strings (64-bit). */
export interface AuditLine {
  offset: string;
  timestamp: string;
  key: string | null;
  headers: Record<string, string>;
  /** Registry schema id of the value (Confluent wire format), null when the value has none. */
  schemaId: number | null;
  /** The value's exact bytes, base64. */
  value: string | null;
  /** The value decoded with its schema (bytes fields as base64), null when it did not decode. */
  record: unknown;
  decodeError?: string;
}

export interface SegmentManifest {
  version: 1;
  topic: string;
  partition: number;
  /** Where the read of this segment began: the previous segment's nextOffset, or the log start. */
  startOffset: string;
  firstOffset: string;
  lastOffset: string;
  /** lastOffset + 1: the next segment's startOffset. */
  nextOffset: string;
  records: number;
  segmentKey: string;
  segmentSha256: string;
  segmentBytes: number;
  previousSegmentKey: string | null;
  previousSegmentSha256: string | null;
  schemaIds: number[];
  firstTimestamp: string;
  lastTimestamp: string;
  writtenAt: string;
  workerId: string;
}

/** The schema id of a Confluent wire-format value (magic byte 0, 4-byte big-endian id). */
export function wireSchemaId(value: Buffer | null): number | null {
  return value && value.length >= 5 && value[0] === 0 ? value.readUInt32BE(1) : null;
}

/** JSON for a decoded Avro value: bytes as base64 rather than Node's array of numbers. */
export function jsonSafe(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value, (_key, v: unknown) => (v && typeof v === 'object' && (v as { type?: unknown }).type === 'Buffer' && Array.isArray((v as { data?: unknown }).data) ? Buffer.from((v as { data: number[] }).data).toString('base64') : typeof v === 'bigint' ? v.toString() : v)));
}

export function encodeSegment(lines: readonly AuditLine[]): Buffer {
  // Level 6 is zlib's default; fixed so the same records always give the same bytes and hash.
  return gzipSync(Buffer.from(lines.map((l) => JSON.stringify(l)).join('\n') + '\n', 'utf8'), { level: 6 });
}

export function decodeSegment(bytes: Buffer, key: string): AuditLine[] {
  let text: string;
  try {
    text = gunzipSync(bytes).toString('utf8');
  } catch (err) {
    throw PermitflowError.permanent('PF_AUDIT_SEGMENT_UNREADABLE', `${key} is not a gzip stream`, { cause: err });
  }
  return text
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l, i) => {
      try {
        return JSON.parse(l) as AuditLine;
      } catch (err) {
        throw PermitflowError.permanent('PF_AUDIT_SEGMENT_UNREADABLE', `${key} line ${i + 1} is not JSON`, { cause: err });
      }
    });
}

export function parseManifest(bytes: Buffer, key: string): SegmentManifest {
  try {
    const m = JSON.parse(bytes.toString('utf8')) as SegmentManifest;
    if (m.version !== 1 || typeof m.segmentSha256 !== 'string' || typeof m.startOffset !== 'string') throw new Error('not a version 1 manifest');
    return m;
  } catch (err) {
    throw PermitflowError.permanent('PF_AUDIT_MANIFEST_UNREADABLE', `${key} is not a segment manifest`, { cause: err });
  }
}

/** Builds a segment and its manifest from the lines of one partition, read from `start`. */
export function buildSegment(
  topic: string,
  partition: number,
  start: bigint,
  lines: readonly AuditLine[],
  previous: { key: string; sha256: string } | null,
  workerId: string,
): { body: Buffer; manifest: SegmentManifest } {
  const first = lines[0];
  const last = lines.at(-1);
  if (!first || !last) throw new Error('a segment needs at least one record');
  const body = encodeSegment(lines);
  const firstOffset = BigInt(first.offset);
  const lastOffset = BigInt(last.offset);
  const key = segmentKey(topic, partition, firstOffset, lastOffset);
  return {
    body,
    manifest: {
      version: 1,
      topic,
      partition,
      startOffset: start.toString(),
      firstOffset: first.offset,
      lastOffset: last.offset,
      nextOffset: (lastOffset + 1n).toString(),
      records: lines.length,
      segmentKey: key,
      segmentSha256: sha256Hex(body),
      segmentBytes: body.length,
      previousSegmentKey: previous?.key ?? null,
      previousSegmentSha256: previous?.sha256 ?? null,
      schemaIds: [...new Set(lines.map((l) => l.schemaId).filter((id): id is number => id !== null))].sort((a, b) => a - b),
      firstTimestamp: first.timestamp,
      lastTimestamp: last.timestamp,
      writtenAt: new Date().toISOString(),
      workerId,
    },
  };
}

export const manifestBytes = (manifest: SegmentManifest): Buffer => Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`, 'utf8');
