/**
 * Structured JSON logs (pino). Personal data never reaches a log line: the paths below are
 * redacted wherever they appear, and code logs submission hashes, never payloads.
 */
import { pino, type Logger } from 'pino';

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

export function createLogger(options: { level: string; name?: string }): Logger {
  return pino({
    level: options.level,
    ...(options.name !== undefined && { name: options.name }),
    redact: { paths: REDACT, censor: '[redacted]' },
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
  });
}
