/**
 * One error base for permitflow. Every error has a stable code (prefix `PF_`), says whether
 * retrying can help, and keeps its cause. `classify()` is the one place that turns any thrown
 * value into a decision: retry, dead-letter, or fatal.
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
