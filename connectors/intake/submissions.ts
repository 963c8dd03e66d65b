/**
 * POST /v1/submissions and GET /v1/submissions/{id} (the submitting clients' and `read:any` clerks' only).
 *
 * POST: read the body (JSON, or multipart with attachments spooled to temporary files), validate
 * it, canonicalise it (its SHA-256 and the attachments' kinds and digests make the submission id), apply the Idempotency-Key, then accept
 * it durably (object store if needed, raw topic with acks=all) and answer 202. Every refusal
 * happens before anything is stored.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { canonicalPayload, isSubmissionHash, submissionHashOf, type CanonicalPayload } from '../../domain/hashing.ts';
import type { PermitApplication } from '../../schemas/types.ts';
import { acceptPdfSubmission, acceptSubmission, type Accepted } from './accept.ts';
import type { Principal } from './api-keys.ts';
import { createFairShare } from './backpressure.ts';
import type { IntakeDeps } from './deps.ts';
import { authenticate, declaredBodyLimit, rateLimit, shedUnderBackpressure } from './guards.ts';
import { fingerprintOf, parseIdempotencyKey, runIdempotently, type StoredResponse } from './idempotency.ts';
import type { IntakeMetrics } from './metrics.ts';
import { readMultipart, type JsonParser, type SpooledAttachment } from './multipart.ts';
import { problem, PROBLEM_TYPES, ProblemError, unsupportedMediaType } from './problem.ts';
import type { SubmissionStatus } from './status.ts';
import { createApplicationValidator } from '../../domain/application-validator.ts';
import { inSpan, SpanKind } from '../../lib/observability/tracing.ts';

interface Input {
  application: unknown;
  /** The application as a PDF form, still to be read by the extraction stage. */
  applicationDocument?: SpooledAttachment;
  attachments: SpooledAttachment[];
  dispose(): Promise<void>;
}

const location = (id: string) => `/v1/submissions/${id}`;

/** How far back each client's share of accepted submissions is counted for fair shedding. */
const FAIR_SHARE_WINDOW_MS = 30_000;

async function readInput(request: FastifyRequest, deps: IntakeDeps, parseJson: JsonParser): Promise<Input> {
  if (request.isMultipart()) return readMultipart(request, deps.settings, parseJson);
  if (request.headers['content-type'] === undefined) throw unsupportedMediaType();
  return { application: request.body, attachments: [], dispose: () => Promise.resolve() };
}

function idempotencyKeyOf(request: FastifyRequest): string | undefined {
  const header = request.headers['idempotency-key'];
  if (header === undefined) return undefined;
  const key = typeof header === 'string' ? parseIdempotencyKey(header) : undefined;
  if (key === undefined) {
    throw new ProblemError(problem(400, PROBLEM_TYPES.idempotencyKeyInvalid, 'Idempotency-Key must be a string of 1-255 printable ASCII characters, e.g. "8e03978e-40d5-43e8-bc93-6894a57f9324"'));
  }
  return key;
}

const REFUSALS = {
  'in-flight': () => new ProblemError(problem(409, PROBLEM_TYPES.idempotencyKeyInFlight, 'a request with this Idempotency-Key is still being processed; retry when it has completed')),
  mismatch: () => new ProblemError(problem(422, PROBLEM_TYPES.idempotencyKeyReused, 'this Idempotency-Key was used with a different request body')),
};

function send(reply: FastifyReply, stored: StoredResponse, replayed: boolean): FastifyReply {
  reply.code(stored.status).headers(stored.headers);
  if (replayed) reply.header('idempotent-replayed', 'true');
  return reply.send(stored.body);
}

export function submissionRoutes(app: FastifyInstance, deps: IntakeDeps, metrics: IntakeMetrics): void {
  const validate = createApplicationValidator();
  const clock = deps.clock ?? Date.now;
  const fairShare = createFairShare({ windowMs: FAIR_SHARE_WINDOW_MS, clock });
  // The multipart application part is parsed by the very parser of JSON bodies (secure-json-parse,
  // `__proto__` and `constructor.prototype` refused), so both paths accept the same documents.
  const jsonBodyParser = app.getDefaultJsonParser('error', 'error');
  const parseJson: JsonParser = (text) => {
    let parsed: { err: Error | null; value: unknown } = { err: new Error('the JSON parser did not answer'), value: undefined };
    void jsonBodyParser({} as FastifyRequest, text, (err, value) => (parsed = { err, value }));
    if (parsed.err) throw parsed.err;
    return parsed.value;
  };

  /** The durable part: store, produce, and the 202 it earns. A PDF application has no canonical JSON yet: the extraction stage makes it. */
  async function accept(request: FastifyRequest, input: Input, checked: { application: PermitApplication; canonical: CanonicalPayload } | { document: SpooledAttachment }, submissionHash: string): Promise<StoredResponse> {
    const client = request.principal!.client;
    // The submission's trace starts here (or continues the caller's); every stage joins it.
    const span = { kind: SpanKind.SERVER, incoming: request.headers.traceparent as string | undefined, attributes: { 'http.request.method': 'POST', 'http.route': '/v1/submissions', 'permitflow.client': client, 'permitflow.submission.hash': submissionHash } };
    const acceptDeps = { ...deps, inlineLimitBytes: deps.settings.inlineLimitBytes, produceTimeoutMs: deps.settings.produceTimeoutMs };
    const { envelope, payloadStored } = await inSpan('POST /v1/submissions', span, (traceparent): Promise<Accepted> => {
      const common = { submissionHash, attachments: input.attachments, client, receivedAt: clock(), traceparent };
      return 'document' in checked ? acceptPdfSubmission(acceptDeps, { ...common, document: checked.document }) : acceptSubmission(acceptDeps, { ...common, ...checked });
    });
    metrics.accepted.inc({ payload: payloadStored });
    fairShare.accepted(client);
    metrics.attachmentBytes.inc(envelope.attachments.reduce((sum, a) => sum + a.size, 0));
    request.log.debug({ submissionHash: envelope.submissionHash, client }, 'submission accepted');
    return {
      status: 202,
      headers: { location: location(envelope.submissionHash), 'content-type': 'application/json; charset=utf-8' },
      body: JSON.stringify({ submissionId: envelope.submissionHash, receivedAt: new Date(envelope.receivedAt).toISOString(), status: 'received' }),
    };
  }

  app.post('/v1/submissions', { onRequest: [authenticate(deps, 'submit'), rateLimit(deps), shedUnderBackpressure(deps, fairShare), declaredBodyLimit(deps)] }, async (request, reply) => {
    const idempotencyKey = idempotencyKeyOf(request);
    const input = await readInput(request, deps, parseJson);
    try {
      if (input.applicationDocument) {
        // A PDF form: identified by its bytes and the attachments, like a claim-checked payload; read by the extraction stage.
        const document = input.applicationDocument;
        const submissionHash = submissionHashOf(document.sha256, input.attachments);
        const scope = idempotencyKey === undefined ? undefined : { client: request.principal!.client, key: idempotencyKey };
        const outcome = await runIdempotently(deps.idempotency, scope, fingerprintOf(document.sha256, input.attachments), () => accept(request, input, { document }, submissionHash), (err) =>
          request.log.warn({ err }, 'idempotency store unavailable after the fact; the key expires on its own'),
        );
        if ('refused' in outcome) throw REFUSALS[outcome.refused]();
        if (outcome.replayed) metrics.replayed.inc();
        return send(reply, outcome.response, outcome.replayed);
      }
      const checked = validate(input.application);
      if (!checked.ok) {
        throw new ProblemError(problem(422, PROBLEM_TYPES.validation, `the application has ${checked.errors.length} problem(s)`, { errors: checked.errors }));
      }
      const canonical = canonicalPayload(checked.value);
      const submissionHash = submissionHashOf(canonical.hash, input.attachments);
      const scope = idempotencyKey === undefined ? undefined : { client: request.principal!.client, key: idempotencyKey };
      const outcome = await runIdempotently(deps.idempotency, scope, fingerprintOf(canonical.hash, input.attachments), () => accept(request, input, { application: checked.value, canonical }, submissionHash), (err) =>
        request.log.warn({ err }, 'idempotency store unavailable after the fact; the key expires on its own'),
      );
      if ('refused' in outcome) {
        request.log.debug({ submissionHash, client: request.principal!.client, refused: outcome.refused }, 'Idempotency-Key refused');
        throw REFUSALS[outcome.refused]();
      }
      if (outcome.replayed) metrics.replayed.inc();
      return send(reply, outcome.response, outcome.replayed);
    } finally {
      await input.dispose();
    }
  });

  async function mayRead(principal: Principal, status: SubmissionStatus): Promise<boolean> {
    if (principal.scopes.includes('read:any') || status.sourceClient === principal.client) return true;
    return deps.receipts.submittedBy(status.submissionId, principal.client).catch((err: unknown) => {
      deps.logger.warn({ err }, 'receipts unavailable for an ownership check: answering 404');
      return false;
    });
  }

  app.get<{ Params: { id: string } }>('/v1/submissions/:id', { onRequest: [authenticate(deps, 'read'), rateLimit(deps)] }, async (request, reply) => {
    const { id } = request.params;
    const status = isSubmissionHash(id) ? await deps.statusSource.get(id) : undefined;
    // Another client's submission is as unknown as a missing one: a 403 would confirm the id.
    if (!status || !(await mayRead(request.principal!, status))) throw new ProblemError(problem(404, PROBLEM_TYPES.blank, 'no submission with this id is known'));
    return reply.send({
      submissionId: status.submissionId,
      status: status.status,
      receivedAt: new Date(status.receivedAt).toISOString(),
      timeline: status.timeline.map((t) => ({ state: t.state, at: new Date(t.at).toISOString() })),
    });
  });
}
