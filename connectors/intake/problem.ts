/**
 * RFC 9457 problem details: every error the intake answers is `application/problem+json` with a
 * stable `type`, and validation errors list each offending field by JSON pointer.
 */
import { STATUS_CODES } from 'node:http';
import type { FieldError } from '../../domain/application-validator.ts';

export type { FieldError };

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

/** Problem types the intake answers with; `about:blank` covers plain HTTP errors (404, 413, 415, ...). */
export const PROBLEM_TYPES = {
  invalidJson: 'urn:permitflow:problem:invalid-json',
  validation: 'urn:permitflow:problem:validation-failed',
  invalidMultipart: 'urn:permitflow:problem:invalid-multipart',
  unauthenticated: 'urn:permitflow:problem:unauthenticated',
  forbidden: 'urn:permitflow:problem:insufficient-scope',
  rateLimited: 'urn:permitflow:problem:rate-limited',
  backpressure: 'urn:permitflow:problem:backpressure',
  idempotencyKeyInvalid: 'urn:permitflow:problem:idempotency-key-invalid',
  idempotencyKeyReused: 'urn:permitflow:problem:idempotency-key-reused',
  idempotencyKeyInFlight: 'urn:permitflow:problem:idempotency-key-in-flight',
  unavailable: 'urn:permitflow:problem:unavailable',
  internal: 'urn:permitflow:problem:internal',
  blank: 'about:blank',
} as const;

type ProblemType = (typeof PROBLEM_TYPES)[keyof typeof PROBLEM_TYPES];

const TITLES: Record<Exclude<ProblemType, 'about:blank'>, string> = {
  [PROBLEM_TYPES.invalidJson]: 'The body is not valid JSON',
  [PROBLEM_TYPES.validation]: 'The application does not match the schema',
  [PROBLEM_TYPES.invalidMultipart]: 'The multipart body is not a submission',
  [PROBLEM_TYPES.unauthenticated]: 'An API key is required',
  [PROBLEM_TYPES.forbidden]: 'The API key lacks a scope',
  [PROBLEM_TYPES.rateLimited]: 'Rate limit exceeded',
  [PROBLEM_TYPES.backpressure]: 'Processing is behind: retry later',
  [PROBLEM_TYPES.idempotencyKeyInvalid]: 'Malformed Idempotency-Key',
  [PROBLEM_TYPES.idempotencyKeyReused]: 'Idempotency-Key reused with another body',
  [PROBLEM_TYPES.idempotencyKeyInFlight]: 'A request with this Idempotency-Key is in flight',
  [PROBLEM_TYPES.unavailable]: 'Temporarily unavailable',
  [PROBLEM_TYPES.internal]: 'Internal error',
};


export interface Problem {
  type: string;
  title: string;
  status: number;
  detail?: string;
  instance?: string;
  errors?: FieldError[];
  /** Seconds, mirrored in the Retry-After header (429, 503). */
  retryAfter?: number;
}

/** A problem to answer with, thrown from hooks and handlers and sent by the error handler. */
export class ProblemError extends Error {
  override readonly name = 'ProblemError';
  constructor(
    readonly problem: Problem,
    readonly headers: Record<string, string> = {},
  ) {
    super(problem.detail ?? problem.title);
  }
}

export function problem(status: number, type: ProblemType, detail?: string, extra: Partial<Problem> = {}): Problem {
  return {
    type,
    title: type === PROBLEM_TYPES.blank ? (STATUS_CODES[status] ?? 'Error') : TITLES[type],
    status,
    ...(detail !== undefined && { detail }),
    ...extra,
  };
}

/** Headers of a problem answer: Retry-After when the problem carries one. */
export function problemHeaders(p: Problem): Record<string, string> {
  return p.retryAfter === undefined ? {} : { 'retry-after': String(p.retryAfter) };
}

/** 415, naming the media types a submission may use (Accept-Post). */
export function unsupportedMediaType(): ProblemError {
  return new ProblemError(problem(415, PROBLEM_TYPES.blank, 'send the application as application/json, or multipart/form-data with an application part'), {
    'accept-post': 'application/json, multipart/form-data',
  });
}
