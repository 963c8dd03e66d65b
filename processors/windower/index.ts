/**
 * Windower: consumes `submissions.raw`, drops duplicates, emits `received`, and groups the
 * submissions of each partition into batches that close on count, bytes or age, emitting the
 * batch manifest (`batches`) and one `chunked` record per member.
 *
 * Guarantees (with the runtime's transactions): each hash once in `received` and once in
 * `chunked`, every received submission in exactly one batch, one manifest per batch.
 *
 * State per partition, in two runtime-managed stores (`ctx.store`: the runtime writes their
 * changelogs in the same transactions as the outputs and restores them on assignment):
 * - `seen-hashes`: hash -> raw offset where it was first received, within the dedup horizon;
 * - `open-window`: partition -> the open window's batch id, opening time and first raw offset.
 * On assignment the open window's members are rebuilt from a replay of the raw topic from that
 * offset to the committed one: a raw record is a member when `seen-hashes` says it was first
 * seen at that very offset.
 *
 * Closing writes the batch archive to the object store under a key derived from the batch's
 * idempotency key (conditional put), so a close retried after a crash writes the same object.
 * The archive is compressed and written while the next records are handled: the close returns it
 * as a commit condition, so the transaction carrying the manifest commits only once it exists.
 */
import { randomUUID } from 'node:crypto';
import { Counter, Histogram } from 'prom-client';
import type { ObjectStore } from '../../domain/ports.ts';
import { PermitflowError } from '../../lib/errors.ts';
import { inSpan, MESSAGING, SpanKind } from '../../lib/observability/tracing.ts';
import type { Serde } from '../../schemas/serde.ts';
import type { SubmissionEnvelope, SubmissionReceived } from '../../schemas/types.ts';
import type { Topology } from '../../topology/topics.ts';
import { declaredInputs } from '../runtime/contract.ts';
import { WINDOWER } from './topology.ts';
import { canonicalPayload, isSubmissionHash, sha256Hex, submissionHashOf } from '../../domain/hashing.ts';
import { hashIndex, jsonCodec, keyValueStore, type KeyValueStore } from '../runtime/stores.ts';
import { commitAfter, type PartitionContext, type ProcessorDefinition, type ProcessorOutput } from '../runtime/types.ts';
import {
  closeWindow,
  gzipArchive,
  isExpired,
  isFull,
  openWindow,
  snapshotOf,
  wouldOverflow,
  type CloseReason,
  type Member,
  type OpenWindow,
  type WindowLimits,
  type WindowSnapshot,
} from './window.ts';

/** The windower's stores (names from its declaration, WINDOWER.stores). */
function windowerStores(dedupHorizonMs: number) {
  return {
    'seen-hashes': hashIndex({ horizonMs: dedupHorizonMs }),
    'open-window': keyValueStore({ codec: jsonCodec<WindowSnapshot>() }),
  } satisfies Record<(typeof WINDOWER.stores)[number], unknown>;
}
type WindowerStores = ReturnType<typeof windowerStores>;

export interface WindowerOptions extends WindowLimits {
  dedupHorizonMs: number;
  /** Archive writes for closed batches. */
  archive: Pick<ObjectStore, 'putIfAbsent'>;
  serde: Serde;
  topology: Topology;
  workerId: string;
  clock?: () => number;
}

const metrics = {
  collisions: new Counter({ name: 'permitflow_idempotency_collisions_total', help: 'Submissions received again within the dedup horizon (dropped)', labelNames: ['partition'] }),
  batches: new Counter({ name: 'permitflow_batches_closed_total', help: 'Batches closed, by reason', labelNames: ['reason'] }),
  batchSize: new Histogram({ name: 'permitflow_batch_size', help: 'Members per closed batch', buckets: [1, 10, 50, 100, 250, 500, 1000, 5000] }),
  batchBytes: new Histogram({ name: 'permitflow_batch_bytes', help: 'Payload bytes per closed batch', buckets: [1e3, 1e4, 1e5, 1e6, 5e6, 25e6, 1e8] }),
};


/**
 * Upper bounds of an envelope's free-text fields, in UTF-8 bytes. Inter-agency producers write
 * the raw topic directly, past the intake's JSON Schema: an unbounded reference would reach the
 * read model's index (a btree row holds at most 2,704 bytes) or Kafka's max message size. Generous
 * next to the intake's limits, so a file-drop `<file>:<line>` reference always fits.
 */
export const ENVELOPE_LIMITS = { sourceReferenceBytes: 1024, sourceBytes: 256, sourceClientBytes: 256, attachments: 100, attachmentFieldBytes: 1024 } as const;

/** The submission hash the payload and attachments give, as the intake computes it; null when the inline payload is not JSON. */
function identityOf(inline: Buffer, attachments: SubmissionEnvelope['attachments']): string | null {
  let document: unknown;
  try {
    document = JSON.parse(inline.toString('utf8'));
  } catch {
    return null;
  }
  return submissionHashOf(canonicalPayload(document).hash, attachments);
}

function overLimit(field: string, value: string | null, maxBytes: number): string | null {
  const bytes = value === null ? 0 : Buffer.byteLength(value);
  return bytes > maxBytes ? `${field} is ${bytes} bytes, over the ${maxBytes} allowed` : null;
}

/** Why an envelope cannot be windowed, or null when it is sound. */
export function envelopeProblem(envelope: SubmissionEnvelope, key: string | null): string | null {
  if (!isSubmissionHash(envelope.submissionHash)) return 'submissionHash is not a lower-case hex SHA-256';
  if (key !== null && key !== envelope.submissionHash) return 'record key differs from submissionHash';
  const tooLong =
    overLimit('sourceReference', envelope.sourceReference, ENVELOPE_LIMITS.sourceReferenceBytes) ??
    overLimit('source', envelope.source, ENVELOPE_LIMITS.sourceBytes) ??
    overLimit('sourceClient', envelope.sourceClient, ENVELOPE_LIMITS.sourceClientBytes);
  if (tooLong) return tooLong;
  if (envelope.attachments.length > ENVELOPE_LIMITS.attachments) return `${envelope.attachments.length} attachments, over the ${ENVELOPE_LIMITS.attachments} allowed`;
  for (const a of envelope.attachments) {
    const problem = overLimit('an attachment name', a.name, ENVELOPE_LIMITS.attachmentFieldBytes) ?? overLimit('an attachment kind', a.kind, ENVELOPE_LIMITS.attachmentFieldBytes) ?? overLimit('an attachment object key', a.objectKey, ENVELOPE_LIMITS.attachmentFieldBytes);
    if (problem) return problem;
  }
  const { payload } = envelope;
  if ((payload.inline === null) === (payload.objectKey === null)) return 'payload must be either inline or an object key';
  if (payload.size < 0) return 'payload size is negative';
  const document = envelope.applicationDocument ?? null;
  if (document !== null) {
    // Read from a PDF by the extraction stage: the submission is the document's, as the intake keyed it, and the payload the application read from it.
    const tooLong = overLimit('the application document name', document.name, ENVELOPE_LIMITS.attachmentFieldBytes) ?? overLimit('the application document object key', document.objectKey, ENVELOPE_LIMITS.attachmentFieldBytes);
    if (tooLong) return tooLong;
    if (submissionHashOf(document.sha256, envelope.attachments) !== envelope.submissionHash) return 'submissionHash is not the hash of the application document and its attachments';
    if (payload.inline && (payload.inline.length !== payload.size || sha256Hex(payload.inline) !== payload.sha256)) return 'inline payload does not match its size and sha256';
    if (payload.inline && identityOf(payload.inline, envelope.attachments) === null) return 'inline payload is not JSON';
    return null;
  }
  if (payload.inline) {
    if (payload.inline.length !== payload.size || sha256Hex(payload.inline) !== payload.sha256) return 'inline payload does not match its size and sha256';
    const identity = identityOf(payload.inline, envelope.attachments);
    if (identity === null) return 'inline payload is not JSON';
    // The key is the submission's identity: a record whose payload says otherwise would be deduplicated, and looked up, as another submission.
    if (identity !== envelope.submissionHash) return 'submissionHash is not the hash of the inline payload and its attachments';
  } else if (submissionHashOf(payload.sha256, envelope.attachments) !== envelope.submissionHash) {
    return 'submissionHash is not the hash of the claim-checked payload and its attachments';
  }
  return null;
}

export function createWindower(options: WindowerOptions): ProcessorDefinition<SubmissionEnvelope, WindowerStores> {
  const { topology, serde, workerId } = options;
  const clock = options.clock ?? Date.now;
  const windows = new Map<number, OpenWindow | null>();

  /** Closes a window as a span of its own (a batch is not one submission's work) linking its members' spans. */
  function close(partition: number, window: OpenWindow, reason: CloseReason, now: number, openWindowStore: KeyValueStore<WindowSnapshot>): Promise<ProcessorOutput[]> {
    const batch = closeWindow(window, { partition, workerId, closedAt: now, reason });
    windows.set(partition, null);
    openWindowStore.delete(String(partition));
    metrics.batches.inc({ reason });
    metrics.batchSize.observe(batch.manifest.count);
    metrics.batchBytes.observe(batch.manifest.bytes);
    const span = {
      kind: SpanKind.INTERNAL,
      links: window.members.map((m) => m.traceparent),
      attributes: { 'permitflow.batch.id': batch.manifest.batchId, 'permitflow.batch.close_reason': reason, 'permitflow.batch.bytes': batch.manifest.bytes, [MESSAGING.batchCount]: batch.manifest.count },
    };
    return inSpan('close batch', span, (batchTraceparent) => {
      // Compressed and written while the next records are handled; the transaction carrying
      // the manifest commits only once the object exists (claim-check order).
      // Its own span: the write outlives `close batch`, and a slow or failing store shows in traces.
      const archived = inSpan('archive batch', { kind: SpanKind.CLIENT, incoming: batchTraceparent }, async () => {
        const body = await gzipArchive(batch.archiveLines);
        await options.archive.putIfAbsent(batch.manifest.archiveKey!, body, { contentType: 'application/gzip' });
      });
      return Promise.resolve([
        commitAfter(archived),
        { topic: topology.topics.batches, key: batch.manifest.batchId, value: batch.manifest, headers: { traceparent: batchTraceparent } },
        // Each member's own trace goes on: chunked carries the member's context, not the batch's.
        ...batch.chunked.map(({ member, value }) => ({ topic: topology.topics.chunked, key: member.hash, value, headers: { traceparent: member.traceparent } })),
      ]);
    });
  }

  async function restore(ctx: PartitionContext<WindowerStores>): Promise<void> {
    windows.set(ctx.partition, null);
    const seen = ctx.store('seen-hashes');
    const snapshot = ctx.store('open-window').get(String(ctx.partition));
    if (!snapshot) return;

    const { batchId, openedAt, firstOffset } = snapshot;
    const window = openWindow(batchId, openedAt, firstOffset);
    const raw: { offset: bigint; value: Buffer; traceparent: string }[] = [];
    // The members handled since the window opened, up to the committed offset (the runtime knows it).
    await ctx.replayInput(topology.topics.raw, BigInt(firstOffset), (r) => {
      if (r.value) raw.push({ offset: r.offset, value: r.value, traceparent: r.headers.traceparent ?? '' });
    });
    for (const r of raw) {
      const envelope = await serde.decode<SubmissionEnvelope>(topology.topics.raw, r.value).catch(() => null);
      if (envelope && seen.get(envelope.submissionHash) === Number(r.offset)) addMember(window, envelope, Number(r.offset), r.traceparent);
    }
    // An abandoned restore (past the runtime's deadline) must not overwrite a newer one's state.
    ctx.signal.throwIfAborted();
    windows.set(ctx.partition, window);
    ctx.logger.info({ batchId, members: window.members.length }, 'open window restored');
  }

  function addMember(window: OpenWindow, envelope: SubmissionEnvelope, rawOffset: number, traceparent: string): Member {
    const member: Member = {
      hash: envelope.submissionHash,
      rawOffset,
      receivedAt: envelope.receivedAt,
      sourceReference: envelope.sourceReference,
      payload: envelope.payload,
      attachments: envelope.attachments,
      traceparent,
    };
    window.members.push(member);
    window.bytes += envelope.payload.size;
    return member;
  }

  return {
    id: 'windower',
    inputs: declaredInputs(WINDOWER, topology),
    stores: windowerStores(options.dedupHorizonMs),
    // Window state is sequential: one record at a time per partition.
    concurrency: 1,
    assign: restore,
    revoke(partition) {
      windows.delete(partition);
    },

    async process(record, ctx) {
      const { partition } = record;
      const envelope = record.value;
      const problem = envelopeProblem(envelope, record.key);
      if (problem) throw PermitflowError.permanent('PF_INVALID_ENVELOPE', problem, { context: { offset: record.offset } });

      const seen = ctx.store('seen-hashes');
      const hash = envelope.submissionHash;
      const rawOffset = Number(record.offset);
      if (seen.get(hash) !== undefined) {
        metrics.collisions.inc({ partition: String(partition) });
        ctx.logger.info({ partition, offset: record.offset }, 'idempotency collision: duplicate submission dropped');
        return [];
      }

      const now = clock();
      seen.put(hash, rawOffset);
      const received: SubmissionReceived = {
        header: { submissionHash: hash, state: 'received', batchId: null, idempotencyKey: hash, at: now, workerId, attempt: 1, traceparent: ctx.traceparent, receivedAt: envelope.receivedAt },
        source: envelope.source,
        sourceClient: envelope.sourceClient,
        sourceReference: envelope.sourceReference,
        receivedAt: envelope.receivedAt,
        rawOffset,
        payload: envelope.payload,
        attachments: envelope.attachments,
        extraction: envelope.extraction ?? null,
      };
      const outputs: ProcessorOutput[] = [{ topic: topology.topics.received, key: hash, value: received }];

      const openWindowStore = ctx.store('open-window');
      let window = windows.get(partition) ?? null;
      if (window && wouldOverflow(window, envelope.payload.size, options)) {
        outputs.push(...(await close(partition, window, 'BYTES', now, openWindowStore)));
        window = null;
      }
      if (!window) {
        window = openWindow(randomUUID(), now, rawOffset);
        windows.set(partition, window);
        openWindowStore.put(String(partition), snapshotOf(window));
      }
      addMember(window, envelope, rawOffset, ctx.traceparent);
      if (isFull(window, options)) outputs.push(...(await close(partition, window, 'COUNT', now, openWindowStore)));
      return outputs;
    },

    punctuate: {
      // Checks often enough that an idle partition's window closes within a second of its age.
      intervalMs: Math.max(50, Math.min(1_000, Math.floor(options.maxAgeMs / 10))),
      async run(ctx, now) {
        const window = windows.get(ctx.partition);
        if (!window || !isExpired(window, options, now)) return [];
        return close(ctx.partition, window, 'AGE', now, ctx.store('open-window'));
      },
    },
  };
}
