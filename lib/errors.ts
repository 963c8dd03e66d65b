/**
 * One error base for permitflow. Every error has a stable code (prefix `PF_`), says whether
 * retrying can help, and keeps its cause. `classify()` is the one place that turns any thrown
 * value into a decision: retry, dead-letter, or fatal; `loggableError()` the one place that
 * turns it into something a log line may carry.
 */
import { inspect } from 'node:util';

export interface ErrorOptions {
  cause?: unknown;
  /** Typed context for logs and dead letters; never personal data. */
  context?: Record<string, unknown>;
}

export class PermitflowError extends Error {
  override readonly name: string = 'PermitflowError';
  readonly context: Record<string, unknown>;

  constructor(
    readonly code: string,
    message: string,
    readonly retriable: boolean,
    options: ErrorOptions = {},
  ) {
    super(message, { cause: options.cause });
    this.context = options.context ?? {};
  }

  /** A failure that may succeed later (network, timeouts, 5xx, rate limits). */
  static retriable(code: string, message: string, options?: ErrorOptions): PermitflowError {
    return new PermitflowError(code, message, true, options);
  }

  /** A failure that will fail again the same way (bad bytes, invalid data). */
  static permanent(code: string, message: string, options?: ErrorOptions): PermitflowError {
    return new PermitflowError(code, message, false, options);
  }
}

export type Disposition = 'retry' | 'dead-letter' | 'fatal';

/**
 * What to do with a thrown value. Programmer errors (TypeError, RangeError, ReferenceError)
 * are fatal: retrying a bug burns the budget and hides it.
 */
export function classify(err: unknown): Disposition {
  if (err instanceof PermitflowError) return err.retriable ? 'retry' : 'dead-letter';
  if (err instanceof TypeError || err instanceof RangeError || err instanceof ReferenceError || err instanceof SyntaxError) return 'fatal';
  // kafkajs marks its own errors; anything else unknown is treated as transient once.
  if (err instanceof Error && 'retriable' in err) return (err as { retriable: boolean }).retriable ? 'retry' : 'dead-letter';
  return 'retry';
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
