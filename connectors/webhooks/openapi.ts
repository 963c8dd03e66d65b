/**
 * The OpenAPI 3.1 `webhooks` of the status events (the intake's /openapi.json carries them):
 * what a receiver gets, its Standard Webhooks headers, and what it should answer. A unit test
 * checks the bodies events.ts builds against these schemas.
 */
import type { EventType } from './events.ts';

const HASH = { type: 'string', pattern: '^[0-9a-f]{64}$', description: 'Submission hash (the id of GET /v1/submissions/{id})' };
const TIMESTAMP = { type: 'string', format: 'date-time' };
const NULLABLE_STRING = { type: ['string', 'null'] };
const NULLABLE_TIMESTAMP = { type: ['string', 'null'], format: 'date-time' };

const submissionCommon = {
  submissionId: HASH,
  batchId: { ...NULLABLE_STRING, description: 'Windower batch, from chunking on (null when received)' },
  receivedAt: { ...NULLABLE_TIMESTAMP, description: "The intake's receipt time" },
  at: { ...TIMESTAMP, description: 'When this state was reached' },
};

const envelope = (type: EventType, data: Record<string, unknown>, required: string[]) => ({
  type: 'object',
  required: ['type', 'timestamp', 'data'],
  additionalProperties: false,
  properties: {
    type: { const: type },
    timestamp: TIMESTAMP,
    data: { type: 'object', required, additionalProperties: false, properties: data },
  },
});

const submissionRequired = ['submissionId', 'state', 'batchId', 'receivedAt', 'at'];

export const WEBHOOK_SCHEMAS = {
  SubmissionReceivedEvent: envelope(
    'submission.received',
    { ...submissionCommon, state: { const: 'received' }, source: { type: 'string', description: 'intake, file-drop or an agency' }, sourceReference: { ...NULLABLE_STRING, description: "The submitter's own reference" } },
    [...submissionRequired, 'source', 'sourceReference'],
  ),
  SubmissionAcceptedEvent: envelope(
    'submission.accepted',
    {
      ...submissionCommon,
      state: { const: 'accepted' },
      jurisdiction: { type: 'string' },
      permitType: { type: 'string' },
      parcelNumber: NULLABLE_STRING,
      reviewTrack: { type: 'string' },
      feeDueCents: { type: ['integer', 'null'] },
      warnings: { type: 'array', items: { type: 'string' }, description: 'Codes of non-blocking findings' },
    },
    [...submissionRequired, 'jurisdiction', 'permitType', 'parcelNumber', 'reviewTrack', 'feeDueCents', 'warnings'],
  ),
  SubmissionRejectedEvent: envelope(
    'submission.rejected',
    {
      ...submissionCommon,
      state: { const: 'rejected' },
      reasons: {
        type: 'array',
        items: { type: 'object', required: ['code', 'field', 'message'], additionalProperties: false, properties: { code: { type: 'string' }, field: { ...NULLABLE_STRING, description: 'JSON pointer into the application' }, message: { type: 'string' } } },
      },
    },
    [...submissionRequired, 'reasons'],
  ),
  BatchCompletedEvent: envelope(
    'batch.completed',
    {
      batchId: { type: 'string' },
      idempotencyKey: { type: 'string', description: 'SHA-256 of the sorted member hashes' },
      count: { type: 'integer', minimum: 1 },
      members: { type: 'array', items: HASH },
      closeReason: { enum: ['COUNT', 'BYTES', 'AGE', 'UNKNOWN'] },
      openedAt: TIMESTAMP,
      closedAt: TIMESTAMP,
    },
    ['batchId', 'idempotencyKey', 'count', 'members', 'closeReason', 'openedAt', 'closedAt'],
  ),
} as const;

export const SCHEMA_OF_EVENT: Record<EventType, keyof typeof WEBHOOK_SCHEMAS> = {
  'submission.received': 'SubmissionReceivedEvent',
  'submission.accepted': 'SubmissionAcceptedEvent',
  'submission.rejected': 'SubmissionRejectedEvent',
  'batch.completed': 'BatchCompletedEvent',
};

const HEADERS = {
  'webhook-id': { required: true, description: 'Event id, the same on every retry: deduplicate on it', schema: { type: 'string', pattern: '^evt_[0-9a-f]{32}$' } },
  'webhook-timestamp': { required: true, description: 'Unix seconds of this attempt; refuse ones far from now (replay)', schema: { type: 'string', pattern: '^[0-9]+$' } },
  'webhook-signature': { required: true, description: 'Standard Webhooks: space-separated `v1,<base64 HMAC-SHA256 of id.timestamp.body>` with the subscription secret', schema: { type: 'string' } },
};

const SUMMARIES: Record<EventType, string> = {
  'submission.received': 'A submission was received (first sighting; duplicates are not announced)',
  'submission.accepted': 'A submission was accepted for review, with the fee due',
  'submission.rejected': 'A submission was rejected, with actionable reasons',
  'batch.completed': 'A windower batch closed, with its members',
};

/** The document's `webhooks`: one POST per event type, keyed by the type. */
export function webhookDefinitions(): Record<string, unknown> {
  return Object.fromEntries(
    (Object.keys(SCHEMA_OF_EVENT) as EventType[]).map((type) => [
      type,
      {
        post: {
          operationId: `on${SCHEMA_OF_EVENT[type]}`,
          summary: SUMMARIES[type],
          description: 'Sent to each subscription of this type (`permitflow webhooks add`) whose client sent the submission, or that takes all clients (batch.completed: only those), signed per Standard Webhooks, at least once, in order per submission; retried with backoff on anything but a 2xx (redirects are not followed).',
          parameters: Object.entries(HEADERS).map(([name, header]) => ({ name, in: 'header', ...header })),
          requestBody: { required: true, content: { 'application/json': { schema: { $ref: `#/components/schemas/${SCHEMA_OF_EVENT[type]}` } } } },
          responses: {
            '2XX': { description: 'Received (answer within WEBHOOKS_TIMEOUT_MS, then do the work)' },
            default: { description: 'Anything else, a timeout or a redirect: retried later' },
          },
        },
      },
    ]),
  );
}
