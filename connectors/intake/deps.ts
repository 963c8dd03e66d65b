/**
 * Everything the intake app talks to, injected: `buildApp` opens no connection itself, so unit
 * tests pass small in-memory fakes and `server.ts` passes the real clients.
 */
import type { Registry } from 'prom-client';
import type { Config } from '../../lib/config.ts';
import type { Logger } from '../../lib/logger.ts';
import type { ObjectStore } from '../object-store.ts';
import type { ApiKeyVerifier } from './api-keys.ts';
import type { BackpressureSignal } from './backpressure.ts';
import type { EnvelopeSink } from './envelope-sink.ts';
import type { IdempotencyStore } from './idempotency.ts';
import type { ClientRateLimiter } from './rate-limit.ts';
import type { ReceiptLog, SubmissionStatusSource } from './status.ts';

export type IntakeSettings = Config['intake'];

export interface IntakeDeps {
  settings: IntakeSettings;
  logger: Logger;
  /** Epoch milliseconds; injected so tests can pin receivedAt. */
  clock?: () => number;
  apiKeys: ApiKeyVerifier;
  rateLimiter: ClientRateLimiter;
  backpressure: BackpressureSignal;
  idempotency: IdempotencyStore;
  statusSource: SubmissionStatusSource;
  receipts: ReceiptLog;
  objectStore: ObjectStore;
  sink: EnvelopeSink;
  /** Named readiness checks (`/readyz`); each throws when its dependency is unreachable. */
  readiness: Record<string, () => Promise<void>>;
  /** Defaults to prom-client's default registry. */
  metricsRegistry?: Registry;
}
