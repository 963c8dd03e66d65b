/**
 * Structured JSON logs (pino). Personal data never reaches a log line: code logs submission
 * hashes and codes, never payloads or values; an error is logged as `err`, which only
 * `loggableError` serializes (class, code, scrubbed messages: no library's own fields); and the
 * fields below are redacted at ANY depth should an application object be logged after all.
 * `test/integration/pii-logs.test.ts` holds every process of the pipeline to this.
 */
import { pino, type DestinationStream, type Logger } from 'pino';
import { loggableError } from './errors.ts';

export type { Logger };

/**
 * Fields of a permit application that identify a person or a household, or pay for it: names,
 * organisations, contacts, the site address and coordinates, the payment reference, and the
 * legacy columns an import carries along (`extraFields`, anything an export held).
 */
export const PII_PATHS = [
  'applicant.name',
  'applicant.organization',
  'applicant.email',
  'applicant.phone',
  'contractor.companyName',
  'contractor.phone',
  'contractor.email',
  'site.address.line1',
  'site.address.line2',
  'site.latitude',
  'site.longitude',
  'payment.reference',
  'extraFields',
];

/** Secrets, by their last key, wherever they appear. */
const SECRET_KEYS = ['password', 'secretAccessKey', 'authorization', 'x-api-key', 'apiKey'];

const CENSOR = '[redacted]';
/** Deeper than any application nests; beyond it a value is censored whole rather than walked. */
const MAX_DEPTH = 12;

const PII_SUFFIXES = PII_PATHS.map((p) => p.split('.'));
const SECRETS = new Set(SECRET_KEYS.map((k) => k.toLowerCase()));

/** Whether the object keys leading to a value (array indices left out) end with a PII path. */
function isPiiPath(keys: readonly string[]): boolean {
  return PII_SUFFIXES.some((suffix) => suffix.length <= keys.length && suffix.every((k, i) => keys[keys.length - suffix.length + i] === k));
}

const isPlain = (v: unknown): v is Record<string, unknown> => {
  if (v === null || typeof v !== 'object') return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
};

/**
 * `value` with every PII field and secret censored, at any depth: plain objects and arrays are
 * walked and copied only where something is censored (the caller's object is never changed);
 * anything else (Errors, Buffers, class instances) is left to its serializer.
 */
export function redactDeep(value: unknown, keys: readonly string[] = [], depth = 0, seen = new WeakSet<object>()): unknown {
  const isArray = Array.isArray(value);
  if (!isArray && !isPlain(value)) return value;
  if (seen.has(value)) return '[circular]';
  if (depth >= MAX_DEPTH) return CENSOR;
  seen.add(value);
  try {
    if (isArray) {
      let copy: unknown[] | undefined;
      value.forEach((item, i) => {
        const next = redactDeep(item, keys, depth + 1, seen);
        if (next !== item) (copy ??= value.slice() as unknown[])[i] = next;
      });
      return copy ?? value;
    }
    let copy: Record<string, unknown> | undefined;
    for (const [key, item] of Object.entries(value)) {
      const path = [...keys, key];
      const next = item !== undefined && (SECRETS.has(key.toLowerCase()) || isPiiPath(path)) ? CENSOR : redactDeep(item, path, depth + 1, seen);
      if (next !== item) (copy ??= { ...value })[key] = next;
    }
    return copy ?? value;
  } finally {
    seen.delete(value);
  }
}

const redactObject = (o: Record<string, unknown>): Record<string, unknown> => redactDeep(o) as Record<string, unknown>;

/** `destination` (default stdout) lets tests read the lines. */
export function createLogger(options: { level: string; name?: string; destination?: DestinationStream }): Logger {
  const settings = {
    level: options.level,
    ...(options.name !== undefined && { name: options.name }),
    // The merging object of each line (child bindings: below), at any depth.
    formatters: { log: redactObject },
    // Serializers run after the formatter: what the request serializer returns is redacted here.
    redact: { paths: ['req.headers.authorization', 'req.headers["x-api-key"]'], censor: CENSOR },
    serializers: { err: loggableError },
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  const logger = options.destination ? pino(settings, options.destination) : pino(settings);
  // pino applies no formatter to a child's bindings: they are redacted on the way in. Children
  // are created from their parent's prototype chain, so theirs inherit this too.
  const proto = Object.getPrototypeOf(logger) as Logger;
  logger.child = function (this: Logger, bindings: Record<string, unknown>, childOptions?: Parameters<Logger['child']>[1]) {
    return proto.child.call(this, redactObject(bindings), childOptions);
  } as Logger['child'];
  return logger;
}
