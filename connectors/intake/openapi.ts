/**
 * The OpenAPI 3.1 document of the intake, served at /openapi.json. The request body schema is
 * the one the intake validates with (derived from Avro); the response schemas below are the
 * shapes the handlers build, and a test checks real responses against this document.
 */
import { STATES } from '../../schemas/types.ts';
import { permitApplicationJsonSchema, type JsonSchema } from '../../domain/application-schema.ts';
import { IDEMPOTENCY_KEY_PATTERN } from './idempotency.ts';
import { PROBLEM_CONTENT_TYPE } from './problem.ts';
import { WEBHOOK_SCHEMAS, webhookDefinitions } from '../webhooks/openapi.ts';

const HASH = { type: 'string', pattern: '^[0-9a-f]{64}$', description: 'Submission hash: hex SHA-256 of the RFC 8785 canonical application, together with the kinds and SHA-256 digests of its attachments when it has any' };
const TIMESTAMP = { type: 'string', format: 'date-time' };

export const SCHEMAS = {
  SubmissionAccepted: {
    type: 'object',
    required: ['submissionId', 'receivedAt', 'status'],
    additionalProperties: false,
    properties: { submissionId: HASH, receivedAt: TIMESTAMP, status: { const: 'received' } },
  },
  SubmissionStatus: {
    type: 'object',
    required: ['submissionId', 'status', 'receivedAt', 'timeline'],
    additionalProperties: false,
    properties: {
      submissionId: HASH,
      status: { enum: [...STATES] },
      receivedAt: TIMESTAMP,
      timeline: {
        type: 'array',
        items: { type: 'object', required: ['state', 'at'], additionalProperties: false, properties: { state: { enum: [...STATES] }, at: TIMESTAMP } },
      },
    },
  },
  Problem: {
    type: 'object',
    description: 'RFC 9457 problem details',
    required: ['type', 'title', 'status'],
    properties: {
      type: { type: 'string', format: 'uri-reference' },
      title: { type: 'string' },
      status: { type: 'integer', minimum: 400, maximum: 599 },
      detail: { type: 'string' },
      instance: { type: 'string' },
      retryAfter: { type: 'integer', minimum: 1, description: 'Seconds, as in the Retry-After header' },
      errors: {
        type: 'array',
        description: 'Field-level reasons',
        items: { type: 'object', required: ['pointer', 'detail'], additionalProperties: false, properties: { pointer: { type: 'string', description: 'RFC 6901 JSON pointer into the application' }, detail: { type: 'string' } } },
      },
    },
  },
  Health: { type: 'object', required: ['status'], additionalProperties: false, properties: { status: { const: 'ok' } } },
  Readiness: {
    type: 'object',
    required: ['status', 'checks'],
    additionalProperties: false,
    properties: { status: { enum: ['ready', 'unready', 'stopping'] }, checks: { type: 'object', additionalProperties: { type: 'string' } } },
  },
} as const satisfies Record<string, JsonSchema>;

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const problemResponse = (description: string, headers: Record<string, unknown> = {}) => ({
  description,
  headers,
  content: { [PROBLEM_CONTENT_TYPE]: { schema: ref('Problem') } },
});
const RETRY_AFTER = { 'Retry-After': { required: true, description: 'Seconds to wait before retrying', schema: { type: 'string', pattern: '^[0-9]+$' } } };
const WWW_AUTHENTICATE = { 'WWW-Authenticate': { required: true, schema: { type: 'string' } } };
const SECURITY = (scope: string) => [{ bearerAuth: [scope] }, { apiKey: [scope] }];

export function openApiDocument(): JsonSchema {
  const { $id: _id, ...application } = permitApplicationJsonSchema();
  const authProblems = {
    '401': problemResponse('No API key, or an unknown one', WWW_AUTHENTICATE),
    '403': problemResponse('The key lacks the scope this operation needs', WWW_AUTHENTICATE),
    '429': problemResponse("The client's rate limit is used up", RETRY_AFTER),
  };
  return {
    openapi: '3.1.0',
    info: { title: 'permitflow intake', version: '1.0.0', description: 'Durable receipt of permit applications: 202 once stored and on the raw topic; processing happens downstream.' },
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    components: {
      schemas: { PermitApplication: application, ...SCHEMAS, ...WEBHOOK_SCHEMAS },
      securitySchemes: {
        bearerAuth: { type: 'http', scheme: 'bearer', description: 'Authorization: Bearer <API key>' },
        apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
      },
    },
    // Status events sent to integrators' subscriptions (`permitflow webhooks`, the notifier).
    webhooks: webhookDefinitions(),
    paths: {
      '/v1/submissions': {
        post: {
          operationId: 'submitApplication',
          summary: 'Submit a permit application (JSON, or multipart with attachments)',
          security: SECURITY('submit'),
          parameters: [
            { name: 'Idempotency-Key', in: 'header', required: false, description: 'IETF httpapi Idempotency-Key (sf-string); retries with the same key and body replay the first response', schema: { type: 'string', maxLength: 257, pattern: IDEMPOTENCY_KEY_PATTERN } },
            { name: 'traceparent', in: 'header', required: false, description: 'W3C trace context to continue', schema: { type: 'string' } },
          ],
          requestBody: {
            required: true,
            content: {
              'application/json': { schema: ref('PermitApplication') },
              'multipart/form-data': {
                schema: {
                  type: 'object',
                  required: ['application'],
                  properties: {
                    application: {
                      oneOf: [ref('PermitApplication'), { type: 'string', contentMediaType: 'application/pdf', description: "The jurisdiction's application form as a PDF (fillable or scanned): claim-checked, then read by the extraction stage; the submission id is the PDF's with the attachments'" }],
                    },
                  },
                  additionalProperties: { type: 'string', contentMediaType: 'application/octet-stream', description: 'An attachment; its part name is its kind (site-plan, drawings, ...)' },
                },
                encoding: { application: { contentType: 'application/json, application/pdf' } },
              },
            },
          },
          responses: {
            '202': {
              description: 'Stored and appended to the raw topic (acks=all)',
              headers: {
                Location: { required: true, schema: { type: 'string', pattern: '^/v1/submissions/[0-9a-f]{64}$' } },
                'Idempotent-Replayed': { required: false, description: 'true when this is the stored response of an earlier request with the same Idempotency-Key', schema: { const: 'true' } },
              },
              content: { 'application/json': { schema: ref('SubmissionAccepted') } },
            },
            '400': problemResponse('Malformed JSON or multipart body, or a malformed Idempotency-Key'),
            ...authProblems,
            '409': problemResponse('A request with this Idempotency-Key is still in flight'),
            '413': problemResponse('The body is larger than the limit (INTAKE_JSON_LIMIT_BYTES for JSON and the application part, INTAKE_BODY_LIMIT_BYTES for multipart)'),
            '415': problemResponse('The body is neither application/json nor multipart/form-data, or the application part says application/pdf but is not a PDF'),
            '422': problemResponse('The application does not match the schema (field-level reasons), or the Idempotency-Key was used with another body'),
            '503': problemResponse('Processing is behind (backpressure) or storage is unavailable', RETRY_AFTER),
          },
        },
      },
      '/v1/submissions/{id}': {
        get: {
          operationId: 'getSubmission',
          summary: "A submission's current state and timeline",
          description: 'Scope `read` shows the submissions the calling client submitted; `read:any` (clerks) every submission.',
          security: [...SECURITY('read'), ...SECURITY('read:any')],
          parameters: [{ name: 'id', in: 'path', required: true, schema: HASH }],
          responses: {
            '200': { description: 'Known submission', content: { 'application/json': { schema: ref('SubmissionStatus') } } },
            ...authProblems,
            '404': problemResponse('No such submission, or one another client submitted'),
          },
        },
      },
      '/healthz': { get: { operationId: 'health', summary: 'Liveness', security: [], responses: { '200': { description: 'Alive', content: { 'application/json': { schema: ref('Health') } } } } } },
      '/readyz': {
        get: {
          operationId: 'ready',
          summary: 'Readiness: Kafka, object store and Redis reachable',
          security: [],
          responses: {
            '200': { description: 'Ready', content: { 'application/json': { schema: ref('Readiness') } } },
            '503': { description: 'Not ready, or shutting down', content: { 'application/json': { schema: ref('Readiness') } } },
          },
        },
      },
      '/metrics': { get: { operationId: 'metrics', summary: 'Prometheus metrics', security: [], responses: { '200': { description: 'Prometheus text format', content: { 'text/plain': { schema: { type: 'string' } } } } } } },
      '/openapi.json': { get: { operationId: 'openapi', summary: 'This document', security: [], responses: { '200': { description: 'OpenAPI 3.1', content: { 'application/json': { schema: { type: 'object' } } } } } } },
    },
  };
}
