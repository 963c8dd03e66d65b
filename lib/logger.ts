/**
 * Structured JSON logs (pino). Personal data never reaches a log line: code logs submission
 * hashes and codes, never payloads or values; an error is logged as `err`, which only
 * `loggableError` serializes (class, code, scrubbed messages: no library's own fields); and the
 * paths below are redacted should an application object be logged after all.
 * `test/integration/pii-logs.test.ts` holds every process of the pipeline to this.
 */
import { pino, type DestinationStream, type Logger } from 'pino';
import { loggableError } from './errors.ts';

export type { Logger };

/** Fields of a permit application that identify a person. */
export const PII_PATHS = [
  'applicant.name',
  'applicant.email',
  'applicant.phone',
  'site.address.line1',
  'site.address.line2',
  'contractor.phone',
  'contractor.email',
];

const REDACT = [
  ...PII_PATHS,
  ...PII_PATHS.map((p) => `*.${p}`),
  'password',
  '*.password',
  'secretAccessKey',
  '*.secretAccessKey',
  'authorization',
  '*.authorization',
  'req.headers.authorization',
  'req.headers["x-api-key"]',
];

/** `destination` (default stdout) lets tests read the lines. */
export function createLogger(options: { level: string; name?: string; destination?: DestinationStream }): Logger {
  const settings = {
    level: options.level,
    ...(options.name !== undefined && { name: options.name }),
    redact: { paths: REDACT, censor: '[redacted]' },
    serializers: { err: loggableError },
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return options.destination ? pino(settings, options.destination) : pino(settings);
}
