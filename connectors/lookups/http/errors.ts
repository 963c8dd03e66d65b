/**
 * What a failed lookup request means: every failure becomes a PermitflowError whose code says
 * what happened and whose `retriable` flag says whether asking again can help. Messages name
 * the API and the endpoint without its query string: queries carry site addresses.
 */
import { PermitflowError } from '../../../lib/errors.ts';
import type { LookupApi } from '../../../domain/lookups.ts';

export const LOOKUP_ERRORS = {
  /** Connect, headers or body timeout, or the request deadline passed. */
  timeout: 'PF_LOOKUP_TIMEOUT',
  /** Connection refused or reset, DNS failure, socket closed. */
  network: 'PF_LOOKUP_NETWORK',
  /** 5xx, or an ArcGIS error object with a 5xx code. */
  unavailable: 'PF_LOOKUP_UNAVAILABLE',
  /** 429 from the API. */
  throttled: 'PF_LOOKUP_THROTTLED',
  /** Our shared rate limit would only allow the request after the deadline. */
  rateLimited: 'PF_LOOKUP_RATE_LIMITED',
  /** 4xx or a query the API refused: asking again gets the same answer. */
  rejected: 'PF_LOOKUP_REJECTED',
  /** A 2xx whose body is not the JSON the protocol promises. */
  badResponse: 'PF_LOOKUP_BAD_RESPONSE',
  /** The caller aborted (shutdown, rebalance). */
  aborted: 'PF_LOOKUP_ABORTED',
  /** The API's circuit breaker is open: the caller should pause, not retry. */
  breakerOpen: 'PF_BREAKER_OPEN',
  /** A lookup of a submission failed; its cause is one of the codes above. */
  failed: 'PF_LOOKUP_FAILED',
} as const;

export interface RequestTarget {
  api: LookupApi;
  url: URL;
}

/** The endpoint without query string or credentials, safe for logs and dead letters. */
export function endpointOf(url: URL): string {
  return `${url.origin}${url.pathname}`;
}

function contextOf(target: RequestTarget, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { api: target.api, endpoint: endpointOf(target.url), ...extra };
}

/** Milliseconds a `Retry-After` header asks for (delta-seconds or an HTTP date), if any. */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  if (text === undefined || text.trim() === '') return undefined;
  if (/^\d+$/.test(text.trim())) return Number(text.trim()) * 1000;
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

export function statusError(target: RequestTarget, status: number, retryAfterMs: number | undefined): PermitflowError {
  const context = contextOf(target, { status, ...(retryAfterMs !== undefined && { retryAfterMs }) });
  const where = `${target.api} API answered HTTP ${status} (${endpointOf(target.url)})`;
  if (status === 429) return PermitflowError.retriable(LOOKUP_ERRORS.throttled, where, { context });
  // 408 Request Timeout is the server giving up on us: worth another try.
  if (status >= 500 || status === 408) return PermitflowError.retriable(LOOKUP_ERRORS.unavailable, where, { context });
  return PermitflowError.permanent(LOOKUP_ERRORS.rejected, where, { context });
}

export function badResponse(target: RequestTarget, reason: string, cause?: unknown): PermitflowError {
  return PermitflowError.permanent(LOOKUP_ERRORS.badResponse, `${target.api} API sent an unusable response: ${reason} (${endpointOf(target.url)})`, {
    cause,
    context: contextOf(target),
  });
}

export function breakerOpen(api: LookupApi): PermitflowError {
  return PermitflowError.retriable(LOOKUP_ERRORS.breakerOpen, `${api} API circuit breaker is open`, { context: { api } });
}

export function rateLimitedPastDeadline(target: RequestTarget, waitMs: number): PermitflowError {
  return PermitflowError.retriable(LOOKUP_ERRORS.rateLimited, `${target.api} API rate limit allows the next request in ${waitMs} ms, after the deadline`, {
    context: contextOf(target, { retryAfterMs: waitMs }),
  });
}

const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT']);
const NETWORK_CODES = new Set([
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_DESTROYED',
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/**
 * Classifies what undici threw (or what an abort left behind). `signal` is the request's
 * combined signal: aborted by the deadline (a timeout) or by the caller (aborted).
 */
export function transportError(target: RequestTarget, err: unknown, signal: AbortSignal): PermitflowError {
  if (err instanceof PermitflowError) return err;
  if (signal.aborted) {
    const reason: unknown = signal.reason;
    const deadline = reason instanceof Error && reason.name === 'TimeoutError';
    return deadline
      ? PermitflowError.retriable(LOOKUP_ERRORS.timeout, `${target.api} API request passed its deadline (${endpointOf(target.url)})`, { cause: err, context: contextOf(target) })
      : PermitflowError.retriable(LOOKUP_ERRORS.aborted, `${target.api} API request aborted by the caller`, { cause: err, context: contextOf(target) });
  }
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && TIMEOUT_CODES.has(code)) {
    return PermitflowError.retriable(LOOKUP_ERRORS.timeout, `${target.api} API timed out (${code}, ${endpointOf(target.url)})`, { cause: err, context: contextOf(target, { errno: code }) });
  }
  if (code === 'UND_ERR_RES_EXCEEDED_MAX_SIZE') return badResponse(target, 'body larger than the client accepts', err);
  if (typeof code === 'string' && (NETWORK_CODES.has(code) || code.startsWith('UND_ERR_'))) {
    return PermitflowError.retriable(LOOKUP_ERRORS.network, `${target.api} API unreachable (${code}, ${endpointOf(target.url)})`, { cause: err, context: contextOf(target, { errno: code }) });
  }
  // Anything else is a bug on our side: let it surface as itself (classify() makes it fatal).
  throw err;
}

/** Failures that say the API is unhealthy, as opposed to busy (429) or refusing this query (4xx). */
export function indicatesUnhealthyApi(err: unknown): boolean {
  if (!(err instanceof PermitflowError)) return false;
  return err.code === LOOKUP_ERRORS.timeout || err.code === LOOKUP_ERRORS.network || err.code === LOOKUP_ERRORS.unavailable;
}

/** How long the server asked us to wait, carried in the error's context. */
export function retryAfterOf(err: unknown): number | undefined {
  if (!(err instanceof PermitflowError)) return undefined;
  const value = err.context.retryAfterMs;
  return typeof value === 'number' ? value : undefined;
}
