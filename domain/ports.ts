/**
 * Ports: what the processors need from the outside, as interfaces. Connectors implement them,
 * `cli/` wires the implementations in, and unit tests pass in-memory fakes, so no processor
 * imports a connector.
 */
import type { Readable } from 'node:stream';
import type { BreakerListener, BreakerState, LookupApi } from './lookups.ts';
import type { LookupResult, PayloadRef, PermitApplication } from '../schemas/types.ts';

export interface ObjectStore {
  bucket: string;
  /** Writes the object unless the key exists (conditional put): objects are never overwritten. */
  putIfAbsent(key: string, body: Buffer | Readable, options: { contentType: string; contentLength?: number }): Promise<'created' | 'exists'>;
  get(key: string): Promise<Buffer>;
  getStream(key: string): Promise<Readable>;
  exists(key: string): Promise<boolean>;
  /** Throws unless the bucket is reachable with our credentials (readiness). */
  ping(): Promise<void>;
  close(): void;
}

/** Where payload bytes come from (inline or claim-checked, hash-checked). */
export interface PayloadSource {
  load(ref: PayloadRef): Promise<Buffer>;
}

export interface LookupAllOptions {
  /** Aborts every request (shutdown, rebalance). */
  signal?: AbortSignal;
  /** When the submission was received: picks the fee schedule version (never the applicant's `appliedAt`); default now. */
  at?: number;
}

export interface EnrichmentLookups {
  lookupAll(application: PermitApplication, options?: LookupAllOptions): Promise<LookupResult[]>;
  breakerStates(): Record<LookupApi, BreakerState>;
  /** Calls `listener` on every breaker transition; returns the unsubscribe function. */
  onBreakerChange(listener: BreakerListener): () => void;
  close(): Promise<void>;
}
