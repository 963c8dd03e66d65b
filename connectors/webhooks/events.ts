/**
 * The events integrators subscribe to, made from the topology's records. Pure: no I/O.
 *
 * An event's id is derived from what it reports (the type and the submission hash, or the
 * batch id), never from where the record sits: each submission has one record per state topic,
 * so a redelivered or replayed record yields the same id, and receivers deduplicate on
 * `webhook-id`. Bodies carry ids, states, codes and amounts, no personal data.
 */
import { createHash } from 'node:crypto';
import type { BatchManifest, SubmissionAccepted, SubmissionReceived, SubmissionRejected } from '../../schemas/types.ts';
import type { TopicId } from '../../topology/topics.ts';

export const EVENT_TYPES = ['submission.received', 'submission.accepted', 'submission.rejected', 'batch.completed'] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** The topics the notifier reads, and the event each one's records become. */
export const EVENT_TYPE_OF_TOPIC = {
  received: 'submission.received',
  accepted: 'submission.accepted',
  rejected: 'submission.rejected',
  batches: 'batch.completed',
} as const satisfies Partial<Record<TopicId, EventType>>;
export type NotifiedTopic = keyof typeof EVENT_TYPE_OF_TOPIC;

export interface WebhookEvent {
  id: string;
  type: EventType;
  submissionHash: string | null;
  batchId: string | null;
  occurredAt: Date;
  /** Order within the submission: 0 received, 1 its decision. */
  rank: number;
  /** The event this one must follow (a decision follows its submission's received event). */
  afterId: string | null;
  /**
   * The client that sent the submission (the intake's authenticated client, from the received
   * record), which client-scoped subscriptions match on. Null on a decision (its record does not
   * carry it: the store takes it from the received event) and on a batch (it mixes clients).
   */
  client: string | null;
  /** The JSON body sent (and signed) on every attempt. */
  body: string;
}

export const eventId = (type: EventType, subject: string): string => `evt_${createHash('sha256').update(`${type}\0${subject}`).digest('hex').slice(0, 32)}`;

const iso = (ms: number | null | undefined): string | null => (ms === null || ms === undefined ? null : new Date(ms).toISOString());

type Decoded = SubmissionReceived | SubmissionAccepted | SubmissionRejected | BatchManifest;

/** The event a record of `topic` reports. */
export function eventOf(topic: NotifiedTopic, record: Decoded): WebhookEvent {
  const type = EVENT_TYPE_OF_TOPIC[topic];
  if (topic === 'batches') {
    const manifest = record as BatchManifest;
    const data = { batchId: manifest.batchId, idempotencyKey: manifest.idempotencyKey, count: manifest.count, members: manifest.members, closeReason: manifest.closeReason, openedAt: iso(manifest.openedAt), closedAt: iso(manifest.closedAt) };
    return build(type, manifest.batchId, null, manifest.batchId, manifest.closedAt, data);
  }
  const { header } = record as SubmissionReceived | SubmissionAccepted | SubmissionRejected;
  const common = { submissionId: header.submissionHash, state: header.state, batchId: header.batchId, receivedAt: iso(header.receivedAt ?? null), at: iso(header.at) };
  let data: Record<string, unknown> = common;
  if (topic === 'received') {
    const received = record as SubmissionReceived;
    data = { ...common, receivedAt: iso(received.receivedAt), source: received.source, sourceReference: received.sourceReference };
  } else if (topic === 'accepted') {
    const accepted = record as SubmissionAccepted;
    data = { ...common, jurisdiction: accepted.jurisdiction, permitType: accepted.permitType, parcelNumber: accepted.parcelNumber, reviewTrack: accepted.reviewTrack, feeDueCents: accepted.computedFeeCents, warnings: accepted.warnings };
  } else {
    const rejected = record as SubmissionRejected;
    data = { ...common, reasons: rejected.reasons.map((r) => ({ code: r.code, field: r.field, message: r.message })) };
  }
  const event = build(type, header.submissionHash, header.submissionHash, header.batchId, header.at, data);
  return topic === 'received' ? { ...event, client: (record as SubmissionReceived).sourceClient } : { ...event, rank: 1, afterId: eventId('submission.received', header.submissionHash) };
}

function build(type: EventType, subject: string, submissionHash: string | null, batchId: string | null, at: number, data: Record<string, unknown>): WebhookEvent {
  const occurredAt = new Date(at);
  // Standard Webhooks' recommended envelope: type, timestamp, data.
  return { id: eventId(type, subject), type, submissionHash, batchId, occurredAt, rank: 0, afterId: null, client: null, body: JSON.stringify({ type, timestamp: occurredAt.toISOString(), data }) };
}
