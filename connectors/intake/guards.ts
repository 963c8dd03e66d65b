/**
 * Request guards of the /v1 routes, run as onRequest hooks before a byte of the body is read:
 * authentication and scope (401/403), the client's rate limit (429), backpressure (503, fair per
 * client) and the
 * declared body size (413). A refused request costs no body parsing and writes nothing.
 */
import type { FastifyRequest, onRequestAsyncHookHandler, onRequestHookHandler } from 'fastify';
import { grants, type Principal, type Scope } from './api-keys.ts';
import { shedDecision, type FairShare } from './backpressure.ts';
import type { IntakeDeps } from './deps.ts';
import { problem, PROBLEM_TYPES, ProblemError } from './problem.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated client (set by the authentication guard). */
    principal: Principal | null;
  }
}

const REALM = 'Bearer realm="permitflow"';

function presentedKey(request: FastifyRequest): string | undefined {
  const authorization = request.headers.authorization;
  if (authorization !== undefined) {
    const match = /^Bearer[ ]+(\S+)\s*$/i.exec(authorization);
    return match?.[1] ?? '';
  }
  const header = request.headers['x-api-key'];
  return typeof header === 'string' ? header.trim() : undefined;
}

export function authenticate(deps: IntakeDeps, scope: Scope): onRequestHookHandler {
  return (request, _reply, done) => done(refusal(deps, scope, request));
}

/** Why a request may not proceed, or undefined; records the principal. */
function refusal(deps: IntakeDeps, scope: Scope, request: FastifyRequest): ProblemError | undefined {
  const key = presentedKey(request);
  if (key === undefined) {
    return new ProblemError(problem(401, PROBLEM_TYPES.unauthenticated, 'send an API key as `Authorization: Bearer <key>` or `X-API-Key`'), { 'www-authenticate': REALM });
  }
  const principal = deps.apiKeys.verify(key);
  if (!principal) {
    return new ProblemError(problem(401, PROBLEM_TYPES.unauthenticated, 'the API key is not valid'), { 'www-authenticate': `${REALM}, error="invalid_token"` });
  }
  request.principal = principal;
  if (!grants(principal.scopes, scope)) {
    return new ProblemError(problem(403, PROBLEM_TYPES.forbidden, `this API key lacks the ${scope} scope`), {
      'www-authenticate': `${REALM}, error="insufficient_scope", scope="${scope}"`,
    });
  }
  return undefined;
}

export function rateLimit(deps: IntakeDeps): onRequestAsyncHookHandler {
  return async (request) => {
    const principal = request.principal!;
    let decision;
    try {
      decision = await deps.rateLimiter.consume(principal.client, principal.rateLimitPerSecond ?? deps.settings.rateLimitPerSecond);
    } catch (err) {
      // The limiter protects downstream capacity; its own failure must not refuse submissions.
      request.log.warn({ err }, 'rate limiter unavailable; request let through');
      return;
    }
    if (!decision.allowed) {
      const retryAfter = Math.max(1, Math.ceil(decision.retryAfterMs / 1000));
      throw new ProblemError(problem(429, PROBLEM_TYPES.rateLimited, `client ${principal.client} is over its rate limit`, { retryAfter }));
    }
  };
}

export function shedUnderBackpressure(deps: IntakeDeps, fairShare: FairShare): onRequestHookHandler {
  return (request, _reply, done) => {
    const pressure = deps.backpressure.pressure();
    if (!pressure.shed) return done();
    const client = request.principal!.client;
    const decision = shedDecision(pressure, fairShare.shareOf(client), deps.settings.lag.hardLimit);
    if (!decision.shed) return done();
    const why = decision.reason === 'fair-share' ? `; client ${client} has sent at least its fair share of recent submissions` : '';
    done(
      new ProblemError(
        problem(503, PROBLEM_TYPES.backpressure, `processing is behind (${decision.lag} submissions waiting)${why}; retry in ${decision.retryAfterS} s`, { retryAfter: decision.retryAfterS }),
      ),
    );
  };
}

/**
 * 413 from the declared Content-Length, before reading (the parsers check as they read too): a
 * JSON body is held to the JSON limit, a multipart one to the body limit.
 */
export function declaredBodyLimit(deps: IntakeDeps): onRequestHookHandler {
  return (request, _reply, done) => {
    const declared = Number(request.headers['content-length'] ?? 0);
    // The body is not parsed yet (onRequest), so the header tells which parser will read it.
    const multipart = /^\s*multipart\/form-data/i.test(request.headers['content-type'] ?? '');
    const limit = multipart ? deps.settings.bodyLimitBytes : deps.settings.jsonLimitBytes;
    if (declared <= limit) return done();
    done(new ProblemError(problem(413, PROBLEM_TYPES.blank, `the body is limited to ${limit} bytes${multipart ? '' : ' as JSON: send attachments as multipart'}`)));
  };
}
