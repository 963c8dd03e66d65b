/**
 * The open batch of one partition and what closing it produces. Pure: no I/O, no clock, no
 * randomness (the caller passes them in), so every decision is unit-testable.
 */
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import type { Attachment, BatchManifest, PayloadRef, SubmissionChunked } from '../../schemas/types.ts';

export interface WindowLimits {
  maxCount: number;
  maxBytes: number;
  maxAgeMs: number;
}

export interface Member {
  hash: string;
  rawOffset: number;
  receivedAt: number;
  sourceReference: string | null;
  payload: PayloadRef;
  attachments: Attachment[];
  traceparent: string;
}

export interface OpenWindow {
  batchId: string;
  openedAt: number;
  /** Raw-topic offset of the first member: a restart replays the raw topic from here. */
  firstOffset: number;
  members: Member[];
  bytes: number;
}

export type CloseReason = BatchManifest['closeReason'];

/** What the window changelog keeps: enough to rebuild the window from the raw topic. */
export interface WindowSnapshot {
  batchId: string;
  openedAt: number;
  firstOffset: number;
}

export function openWindow(batchId: string, openedAt: number, firstOffset: number): OpenWindow {
  return { batchId, openedAt, firstOffset, members: [], bytes: 0 };
}

/** True when adding a member of `size` bytes would take the window past its byte limit. */
export function wouldOverflow(window: OpenWindow, size: number, limits: WindowLimits): boolean {
  return window.members.length > 0 && window.bytes + size > limits.maxBytes;
}

export function isFull(window: OpenWindow, limits: WindowLimits): boolean {
  return window.members.length >= limits.maxCount;
}

export function isExpired(window: OpenWindow, limits: WindowLimits, now: number): boolean {
  return now - window.openedAt >= limits.maxAgeMs;
}

/** SHA-256 of the sorted member hashes: the same members always give the same key. */
export function idempotencyKey(hashes: string[]): string {
  return createHash('sha256').update([...hashes].sort().join('\n')).digest('hex');
}

export const archiveKey = (key: string): string => `batches/${key}.jsonl.gz`;

export interface ClosedBatch {
  manifest: BatchManifest;
  chunked: { member: Member; value: SubmissionChunked }[];
  /** JSON Lines: the manifest, then one line per member with its payload (gzipArchive compresses it). */
  archiveLines: string;
}

/** The archive object's bytes: gzip off the main thread (libuv's pool), the same bytes as gzipSync. */
export const gzipArchive: (lines: string) => Promise<Buffer> = promisify(gzip);

export function closeWindow(window: OpenWindow, context: { partition: number; workerId: string; closedAt: number; reason: CloseReason }): ClosedBatch {
  const hashes = window.members.map((m) => m.hash);
  const key = idempotencyKey(hashes);
  const manifest: BatchManifest = {
    batchId: window.batchId,
    idempotencyKey: key,
    partition: context.partition,
    members: hashes,
    count: hashes.length,
    bytes: window.bytes,
    openedAt: window.openedAt,
    closedAt: context.closedAt,
    closeReason: context.reason,
    firstOffset: window.firstOffset,
    lastOffset: window.members[window.members.length - 1]?.rawOffset ?? window.firstOffset,
    archiveKey: archiveKey(key),
    workerId: context.workerId,
  };
  const chunked = window.members.map((member) => ({
    member,
    value: {
      header: {
        submissionHash: member.hash,
        state: 'chunked' as const,
        batchId: window.batchId,
        idempotencyKey: key,
        at: context.closedAt,
        workerId: context.workerId,
        attempt: 1,
        traceparent: member.traceparent,
        receivedAt: member.receivedAt,
      },
      batchSize: hashes.length,
      sourceReference: member.sourceReference,
      receivedAt: member.receivedAt,
      payload: member.payload,
      attachments: member.attachments,
    },
  }));
  // The archive leaves out close time and worker, so a close retried after a crash writes
  // byte-for-byte the same object under the same key.
  const { closedAt: _closedAt, workerId: _workerId, closeReason: _reason, ...stable } = manifest;
  const lines = [
    JSON.stringify({ manifest: stable }),
    ...window.members.map((m) =>
      JSON.stringify({
        submissionHash: m.hash,
        rawOffset: m.rawOffset,
        receivedAt: m.receivedAt,
        sourceReference: m.sourceReference,
        payload: { ...m.payload, inline: m.payload.inline ? m.payload.inline.toString('base64') : null },
        attachments: m.attachments,
      }),
    ),
  ];
  return { manifest, chunked, archiveLines: lines.join('\n') + '\n' };
}

export function snapshotOf(window: OpenWindow): WindowSnapshot {
  return { batchId: window.batchId, openedAt: window.openedAt, firstOffset: window.firstOffset };
}
