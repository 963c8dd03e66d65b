/**
 * The intake gateway as a Fastify app, built from injected dependencies and not listening
 * (`server.ts` listens). Server limits against abusive clients live here: body limit (413),
 * header size (431, enforced by node's parser), headers and request timeouts checked every
 * second (slow-loris clients are answered 408 and disconnected), idle and keep-alive timeouts.
 */
import multipart from '@fastify/multipart';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance } from 'fastify';
import { classify } from '../../lib/errors.ts';
import { ConfigError } from '../../lib/config.ts';
import type { IntakeDeps } from './deps.ts';
import { intakeMetrics } from './metrics.ts';
import { opsRoutes } from './ops-routes.ts';
import { problem, problemHeaders, PROBLEM_CONTENT_TYPE, PROBLEM_TYPES, ProblemError, unsupportedMediaType, type Problem } from './problem.ts';
import { submissionRoutes } from './submissions.ts';

/** Retry-After of a 503 caused by an unreachable dependency (Kafka, object store, Redis). */
const UNAVAILABLE_RETRY_AFTER_S = 5;

const TOO_LARGE = new Set(['FST_ERR_CTP_BODY_TOO_LARGE', 'FST_REQ_FILE_TOO_LARGE', 'FST_FILES_LIMIT', 'FST_PARTS_LIMIT', 'FST_FIELDS_LIMIT']);
const INVALID_JSON = new Set(['FST_ERR_CTP_INVALID_JSON_BODY', 'FST_ERR_CTP_EMPTY_JSON_BODY', 'FST_INVALID_JSON_FIELD_ERROR']);

/** The problem to answer for any error a hook, parser or handler threw. */
export function problemFor(err: unknown): { problem: Problem; headers: Record<string, string>; serverFault: boolean } {
  if (err instanceof ProblemError) return { problem: err.problem, headers: err.headers, serverFault: false };
  const e = err as Partial<FastifyError>;
  const status = e.statusCode ?? 0;
  if (e.code && TOO_LARGE.has(e.code)) return { problem: problem(413, PROBLEM_TYPES.blank, 'the body is larger than the limit'), headers: {}, serverFault: false };
  if (e.code && INVALID_JSON.has(e.code)) return { problem: problem(400, PROBLEM_TYPES.invalidJson, 'the body is not valid JSON'), headers: {}, serverFault: false };
  if (e.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' || status === 415) return problemFor(unsupportedMediaType());
  if (e.code === 'FST_PROTO_VIOLATION') return { problem: problem(400, PROBLEM_TYPES.invalidMultipart, 'a part name is not allowed'), headers: {}, serverFault: false };
  if (status >= 400 && status < 500) return { problem: problem(status, PROBLEM_TYPES.blank, e.message), headers: {}, serverFault: false };
  if (classify(err) === 'retry') {
    return { problem: problem(503, PROBLEM_TYPES.unavailable, 'storage is unavailable; retry later', { retryAfter: UNAVAILABLE_RETRY_AFTER_S }), headers: {}, serverFault: true };
  }
  return { problem: problem(500, PROBLEM_TYPES.internal, 'unexpected failure'), headers: {}, serverFault: true };
}

export async function buildApp(deps: IntakeDeps): Promise<FastifyInstance> {
  const s = deps.settings;
  const problems = [
    s.headersTimeoutMs > s.requestTimeoutMs && `INTAKE_HEADERS_TIMEOUT_MS (${s.headersTimeoutMs}) must not exceed INTAKE_REQUEST_TIMEOUT_MS (${s.requestTimeoutMs})`,
    s.lag.hardLimit < s.lag.threshold && `INTAKE_LAG_HARD_LIMIT (${s.lag.hardLimit}) must not be below INTAKE_LAG_THRESHOLD (${s.lag.threshold})`,
  ].filter((p): p is string => typeof p === 'string');
  if (problems.length > 0) throw new ConfigError(problems);
  const loggerInstance: FastifyBaseLogger = deps.logger;
  const app = Fastify({
    loggerInstance,
    // Request lines are not logged: they would be the hot path's largest cost. Metrics count them.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: s.bodyLimitBytes,
    connectionTimeout: s.connectionTimeoutMs,
    keepAliveTimeout: s.keepAliveTimeoutMs,
    requestTimeout: s.requestTimeoutMs,
    forceCloseConnections: 'idle',
    return503OnClosing: true,
    http: {
      maxHeaderSize: s.maxHeaderBytes,
      headersTimeout: s.headersTimeoutMs,
      // Node checks the two timeouts above only this often (30 s by default).
      connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.floor(s.headersTimeoutMs / 2))),
    },
  });
  const metrics = intakeMetrics(deps.metricsRegistry);
  let stopping = false;

  app.decorateRequest('principal', null);

  // Only the two submission media types: anything else is 415 before the body is read.
  app.removeAllContentTypeParsers();
  // A JSON body is only the application: its own limit, far below the multipart one (issue 14).
  app.addContentTypeParser('application/json', { parseAs: 'string', bodyLimit: s.jsonLimitBytes }, app.getDefaultJsonParser('error', 'error'));
  await app.register(multipart, { throwFileSizeLimit: true });

  app.setErrorHandler((err, request, reply) => {
    const { problem: p, headers, serverFault } = problemFor(err);
    if (serverFault) request.log.error({ err, route: request.routeOptions.url }, 'request failed');
    else request.log.debug({ status: p.status, type: p.type }, 'request refused');
    return reply.code(p.status).type(PROBLEM_CONTENT_TYPE).headers({ ...problemHeaders(p), ...headers }).send(JSON.stringify(p));
  });
  app.setNotFoundHandler((_request, reply) => {
    const p = problem(404, PROBLEM_TYPES.blank, 'no such resource');
    return reply.code(404).type(PROBLEM_CONTENT_TYPE).send(JSON.stringify(p));
  });

  app.addHook('onResponse', (request, reply, done) => {
    metrics.httpDuration.observe({ method: request.method, route: request.routeOptions.url ?? 'unmatched', status_code: String(reply.statusCode) }, reply.elapsedTime / 1000);
    done();
  });
  // While shutting down, each finished request closes its connection, so close() need not wait for keep-alive timeouts.
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (stopping) reply.header('connection', 'close');
    done(null, payload);
  });
  app.addHook('preClose', (done) => {
    stopping = true;
    done();
  });

  submissionRoutes(app, deps, metrics);
  opsRoutes(app, deps, metrics, () => stopping);
  return app;
}
