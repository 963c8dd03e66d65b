/**
 * One error base for permitflow. Every error has a stable code (prefix `PF_`), says whether
 * retrying can help, and keeps its cause. `classify()` is the one place that turns any thrown
 * value into a decision: retry, dead-letter, or fatal; `loggableError()` the one place that
 * turns it into something a log line may carry.
 */
import { inspect } from 'node:util';
import type { ErrorCode } from './error-codes.ts';

export type { ErrorCode };

export interface ErrorOptions {
  cause?: unknown;
  /** Typed context for logs and dead letters; never personal data. */
  context?: Record<string, unknown>;
}

export class PermitflowError extends Error {
  override readonly name: string = 'PermitflowError';
  readonly context: Record<string, unknown>;

  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly retriable: boolean,
    options: ErrorOptions = {},
  ) {
    super(message, { cause: options.cause });
    this.context = options.context ?? {};
  }

  /** A failure that may succeed later (network, timeouts, 5xx, rate limits). */
  static retriable(code: ErrorCode, message: string, options?: ErrorOptions): PermitflowError {
    return new PermitflowError(code, message, true, options);
  }

  /** A failure that will fail again the same way (bad bytes, invalid data). */
  static permanent(code: ErrorCode, message: string, options?: ErrorOptions): PermitflowError {
    return new PermitflowError(code, message, false, options);
  }
}

export type Disposition = 'retry' | 'dead-letter' | 'fatal';

/**
 * SQLSTATE classes that say the row itself is wrong (22 data exception, 23 integrity
 * constraint, 54 program limit such as an index row over the btree maximum): the same row
 * fails the same way every time, so it is set aside, never retried.
 */
const SQL_DATA_CLASSES = new Set(['22', '23', '54']);

/**
 * SQLSTATEs of a database that is unreachable, restarting, overloaded or resolving a conflict
 * (08 connection, 40 serialization failure and deadlock, 53 insufficient resources, 57
 * operator intervention such as 57P01 admin shutdown, 58 system error, 55P03 lock not
 * available): infrastructure, retried without limit.
 */
const SQL_INFRASTRUCTURE_CLASSES = new Set(['08', '40', '53', '57', '58']);

/** Kafka refusing the record itself (over message.max.bytes, a batch over it, broker-side validation). */
const KAFKA_DATA_ERRORS = new Set(['MESSAGE_TOO_LARGE', 'RECORD_LIST_TOO_LARGE', 'INVALID_RECORD', 'CORRUPT_MESSAGE']);

/** Socket-level failures of Node: the service is away or the network broke, nothing about the data. */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENETDOWN', 'EAI_AGAIN', 'ENOTFOUND', 'EADDRNOTAVAIL']);

/**
 * Codes of failures that mean the deployment is broken, not the record nor a passing outage: a
 * schema missing from the registry, a topic missing, permission refused. Every record would fail
 * the same way, so the stage stops with the message instead of dead-lettering them all.
 */
const DEPLOYMENT_CODES = new Set(['PF_SCHEMA_NOT_REGISTERED', 'PF_TOPIC_MISSING', 'PF_NOT_AUTHORISED']);

/** Kafka refusing us, not the record: an ACL or credentials problem an operator must fix. */
const KAFKA_AUTHORISATION_ERRORS = new Set([
  'TOPIC_AUTHORIZATION_FAILED',
  'GROUP_AUTHORIZATION_FAILED',
  'CLUSTER_AUTHORIZATION_FAILED',
  'TRANSACTIONAL_ID_AUTHORIZATION_FAILED',
  'SASL_AUTHENTICATION_FAILED',
]);

/** The errors of a chain, outermost first (kafkajs wraps the broker's answer in its retrier's error). */
function* causes(err: unknown): Generator<unknown> {
  let current: unknown = err;
  for (let depth = 0; current !== undefined && current !== null && depth < 10; depth++) {
    yield current;
    current = current instanceof Error ? current.cause : undefined;
  }
}

const field = (err: unknown, name: string): unknown => (typeof err === 'object' && err !== null ? (err as Record<string, unknown>)[name] : undefined);

/** A PostgreSQL error (pg's DatabaseError): a five-character SQLSTATE and a severity. */
function sqlState(err: unknown): string | undefined {
  const code = field(err, 'code');
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) && typeof field(err, 'severity') === 'string' ? code : undefined;
}

/** A failure of the record itself, anywhere in the chain: PostgreSQL or Kafka refused this data. */
export function isDataError(err: unknown): boolean {
  for (const e of causes(err)) {
    const state = sqlState(e);
    if (state !== undefined && SQL_DATA_CLASSES.has(state.slice(0, 2))) return true;
    const type = field(e, 'type');
    if (typeof type === 'string' && KAFKA_DATA_ERRORS.has(type)) return true;
  }
  return false;
}

/**
 * A failure of a service or the network, not of the record: a retriable PermitflowError, a
 * socket error, PostgreSQL's connection, conflict and shutdown states, any kafkajs error that
 * is not about the data (kafkajs marks "retries exhausted" and fencing non-retriable, yet the
 * record is fine). Retried without limit: dead-lettering records because a broker is down
 * would empty the partition into the DLQ.
 */
export function isInfrastructureError(err: unknown): boolean {
  if (isDataError(err) || isDeploymentError(err)) return false;
  for (const e of causes(err)) {
    if (e instanceof PermitflowError) return e.retriable;
    const state = sqlState(e);
    if (state !== undefined) return SQL_INFRASTRUCTURE_CLASSES.has(state.slice(0, 2)) || state === '55P03';
    const code = field(e, 'code');
    if (typeof code === 'string' && NETWORK_CODES.has(code)) return true;
    if (e instanceof Error && e.name.startsWith('KafkaJS')) return true;
  }
  return false;
}

/** A failure that means the deployment is broken (see DEPLOYMENT_CODES), anywhere in the chain. */
export function isDeploymentError(err: unknown): boolean {
  for (const e of causes(err)) {
    if (e instanceof PermitflowError && DEPLOYMENT_CODES.has(e.code)) return true;
    const type = field(e, 'type');
    if (typeof type === 'string' && KAFKA_AUTHORISATION_ERRORS.has(type)) return true;
    if (e instanceof Error && e.name === 'KafkaJSSASLAuthenticationError') return true;
  }
  return false;
}

/**
 * What to do with a thrown value. Programmer errors (TypeError, RangeError, ReferenceError)
 * are fatal: retrying a bug burns the budget and hides it; so is a broken deployment
 * (isDeploymentError). Data errors (see isDataError) are
 * dead-lettered. Everything else is retried: infrastructure errors without limit, unknown
 * ones within the runtime's per-record attempt budget (see `retryBudgeted`).
 */
export function classify(err: unknown): Disposition {
  if (isDeploymentError(err)) return 'fatal';
  if (err instanceof PermitflowError) return err.retriable ? 'retry' : 'dead-letter';
  if (err instanceof TypeError || err instanceof RangeError || err instanceof ReferenceError || err instanceof SyntaxError) return 'fatal';
  if (isDataError(err)) return 'dead-letter';
  return 'retry';
}

/**
 * Whether a retry of this failure counts against the record's attempt budget: an error nobody
 * classified may fail for ever (a bug in data handling, a poison value), so after the budget
 * its record is isolated and dead-lettered instead of stalling its partition.
 */
export function retryBudgeted(err: unknown): boolean {
  return classify(err) === 'retry' && !isInfrastructureError(err);
}

/** Messages of an error and its causes, outermost first (for dead letters). */
export function errorChain(err: unknown): string[] {
  const chain: string[] = [];
  let current: unknown = err;
  for (let depth = 0; current !== undefined && current !== null && depth < 10; depth++) {
    if (current instanceof Error) {
      const code = current instanceof PermitflowError ? `${current.code}: ` : `${current.name}: `;
      chain.push(code + current.message);
      current = current.cause;
    } else {
      chain.push(inspect(current, { depth: 2, breakLength: Infinity }));
      break;
    }
  }
  return chain;
}

/** An error as a log line may carry it: no field of the error is copied unless listed here. */
export interface LoggableError {
  /** Class name, e.g. PermitflowError, KafkaJSProtocolError, DatabaseError. */
  type: string;
  /** Messages of the error and its causes, outermost first, joined by `: `, scrubbed. */
  message: string;
  /** The PF_ code, or a library's code (ECONNREFUSED, a SQLSTATE, a kafkajs error type). */
  code?: string | number;
  retriable?: boolean;
  /** A PermitflowError's typed context, its text scrubbed. */
  context?: Record<string, unknown>;
  /** Stack frames of the error and its causes; the message lines replaced by the scrubbed ones. */
  stack?: string;
}

/**
 * Text that may hold values from input, made fit for a log: quoted text (libraries quote the
 * values they refuse: V8's JSON.parse, pg, avsc, ArcGIS echoing a where clause) and the query
 * string of a URL (lookups put addresses there) are replaced by `…`.
 */
export function scrubText(text: string): string {
  return text
    .replace(/\b(https?:\/\/[^\s?#"'<>]*)[?#][^\s"'<>]*/gi, '$1?…')
    .replace(/"(?:[^"\\\n]|\\.)*"/g, '"…"')
    .replace(/(^|[^\p{L}\p{N}_])'(?:[^'\\\n]|\\.)*'(?![\p{L}\p{N}_])/gu, "$1'…'");
}

function scrubValue(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return scrubText(value);
  if (depth > 3 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => scrubValue(v, depth + 1));
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, scrubValue(v, depth + 1)]));
}

/**
 * What of a thrown value may reach a log line or a terminal. Libraries put data on their errors
 * (pg's `detail` quotes the failing row, ioredis the command's arguments, avsc the whole value),
 * so nothing is copied but the class, the code, our own typed context and the scrubbed messages
 * and stack frames of the cause chain. `createLogger` serializes `err` with it.
 */
export function loggableError(err: unknown): LoggableError {
  if (!(err instanceof Error)) return { type: typeof err, message: typeof err === 'string' ? scrubText(err) : `non-error value thrown (${typeof err})` };
  const messages: string[] = [];
  const stacks: string[] = [];
  let current: unknown = err;
  for (let depth = 0; current instanceof Error && depth < 10; depth++) {
    const message = scrubText(current.message);
    messages.push(message);
    const frames = (current.stack ?? '').split('\n').filter((line) => /^\s+at /.test(line));
    stacks.push([`${current.name}: ${message}`, ...frames].join('\n'));
    current = current.cause;
  }
  const { code, type } = err as { code?: unknown; type?: unknown };
  const libraryCode = typeof code === 'string' || typeof code === 'number' ? code : typeof type === 'string' ? type : undefined;
  return {
    type: err.constructor.name,
    message: messages.join(': '),
    ...(libraryCode !== undefined && { code: libraryCode }),
    ...(err instanceof PermitflowError && { retriable: err.retriable, context: scrubValue(err.context) as Record<string, unknown> }),
    stack: stacks.join('\ncaused by: '),
  };
}
