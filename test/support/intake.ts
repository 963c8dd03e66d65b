/**
 * In-memory fakes of the intake's dependencies (behind the same interfaces the real Redis,
 * Kafka and S3 implementations satisfy), an app built from them, and a checker of real responses
 * against the served OpenAPI document.
 */
import assert from 'node:assert/strict';
import type { Readable } from 'node:stream';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import type { FastifyInstance } from 'fastify';
import { Registry } from 'prom-client';
import { generateApiKey, verifierOf, type ApiKeyRecord, type Scope } from '../../connectors/intake/api-keys.ts';
import { buildApp } from '../../connectors/intake/app.ts';
import type { Pressure } from '../../connectors/intake/backpressure.ts';
import type { IntakeDeps, IntakeSettings } from '../../connectors/intake/deps.ts';
import type { EnvelopeSink } from '../../connectors/intake/envelope-sink.ts';
import { decide, newToken, type Entry, type IdempotencyStore } from '../../connectors/intake/idempotency.ts';
import type { ClientRateLimiter, RateDecision } from '../../connectors/intake/rate-limit.ts';
import type { ReceiptLog, SubmissionStatusSource } from '../../connectors/intake/status.ts';
import type { ObjectStore } from '../../connectors/object-store.ts';
import { loadConfig } from '../../lib/config.ts';
import { createLogger } from '../../lib/logger.ts';
import type { SubmissionEnvelope } from '../../schemas/types.ts';

const addFormats = addFormatsModule as unknown as (typeof addFormatsModule)['default'];

export function intakeSettings(env: Record<string, string> = {}): IntakeSettings {
  return loadConfig({ PERMITFLOW_ENV_FILE: '/nonexistent/stack.env', ...env }).intake;
}

export function memoryObjectStore(): ObjectStore & { objects: Map<string, Buffer>; puts: string[]; failing: boolean } {
  const objects = new Map<string, Buffer>();
  const puts: string[] = [];
  const store = {
    bucket: 'memory',
    objects,
    puts,
    failing: false,
    async putIfAbsent(key: string, body: Buffer | Readable) {
      if (store.failing) throw new Error('object store down');
      puts.push(key);
      let bytes: Buffer;
      if (Buffer.isBuffer(body)) bytes = body;
      else {
        const chunks: Buffer[] = [];
        for await (const c of body) chunks.push(c as Buffer);
        bytes = Buffer.concat(chunks);
      }
      if (objects.has(key)) return 'exists' as const;
      objects.set(key, bytes);
      return 'created' as const;
    },
    get(key: string) {
      const v = objects.get(key);
      return v ? Promise.resolve(v) : Promise.reject(new Error(`no object ${key}`));
    },
    getStream(): Promise<Readable> {
      return Promise.reject(new Error('not used'));
    },
    exists(key: string) {
      return Promise.resolve(objects.has(key));
    },
    ping() {
      return store.failing ? Promise.reject(new Error('object store down')) : Promise.resolve();
    },
    close() {},
  };
  return store;
}

/** A sink that records envelopes; `hold()` keeps sends pending until released (for in-flight tests). */
export function memorySink(): EnvelopeSink & { envelopes: SubmissionEnvelope[]; failWith?: Error; hold(): () => void } {
  let gate: Promise<void> | undefined;
  const sink = {
    envelopes: [] as SubmissionEnvelope[],
    failWith: undefined as Error | undefined,
    hold() {
      let release!: () => void;
      gate = new Promise<void>((r) => (release = r));
      return () => {
        gate = undefined;
        release();
      };
    },
    async send(envelope: SubmissionEnvelope) {
      if (gate) await gate;
      if (sink.failWith) throw sink.failWith;
      sink.envelopes.push(envelope);
    },
    async close() {},
  };
  return sink;
}

export function memoryIdempotency(): IdempotencyStore & { entries: Map<string, Entry> } {
  const entries = new Map<string, Entry>();
  const keyOf = (s: { client: string; key: string }) => `${s.client}\u0000${s.key}`;
  return {
    entries,
    reserve(scope, fingerprint) {
      const found = entries.get(keyOf(scope));
      if (found) return Promise.resolve(decide(found, fingerprint));
      const token = newToken();
      entries.set(keyOf(scope), { state: 'in-flight', fingerprint, token });
      return Promise.resolve({ kind: 'reserved', token });
    },
    complete(scope, fingerprint, token, response) {
      if (entries.get(keyOf(scope))?.token === token) entries.set(keyOf(scope), { state: 'completed', fingerprint, token, response });
      return Promise.resolve();
    },
    release(scope, token) {
      if (entries.get(keyOf(scope))?.token === token) entries.delete(keyOf(scope));
      return Promise.resolve();
    },
  };
}

/** Allows everything unless a client has a scripted decision. */
export function scriptedRateLimiter(): ClientRateLimiter & { decisions: Map<string, RateDecision>; calls: { client: string; perSecond: number }[] } {
  const decisions = new Map<string, RateDecision>();
  const calls: { client: string; perSecond: number }[] = [];
  return {
    decisions,
    calls,
    consume(client, perSecond) {
      calls.push({ client, perSecond });
      return Promise.resolve(decisions.get(client) ?? { allowed: true });
    },
  };
}

export function memoryReceipts(): SubmissionStatusSource & ReceiptLog & { receipts: Map<string, number>; submitters: Set<string> } {
  const receipts = new Map<string, number>();
  const submitters = new Set<string>();
  return {
    receipts,
    submitters,
    received(id, at, client) {
      if (!receipts.has(id)) receipts.set(id, at);
      submitters.add(`${id} ${client}`);
      return Promise.resolve();
    },
    submittedBy(id, client) {
      return Promise.resolve(submitters.has(`${id} ${client}`));
    },
    get(id) {
      const at = receipts.get(id);
      return Promise.resolve(at === undefined ? undefined : { submissionId: id, status: 'received' as const, receivedAt: at, timeline: [{ state: 'received' as const, at }] });
    },
  };
}

export interface TestIntake {
  app: FastifyInstance;
  store: ReturnType<typeof memoryObjectStore>;
  sink: ReturnType<typeof memorySink>;
  idempotency: ReturnType<typeof memoryIdempotency>;
  rateLimiter: ReturnType<typeof scriptedRateLimiter>;
  receipts: ReturnType<typeof memoryReceipts>;
  pressure: { current: Pressure };
  /** Keys by role: portal and otherPortal (submit, read: their own), submitter (submit only), reader (read:any, a clerk). */
  keys: { portal: string; otherPortal: string; submitter: string; reader: string };
  records: ApiKeyRecord[];
}

export const FIXED_NOW = Date.parse('2026-11-29T10:00:00Z');

export async function testIntake(env: Record<string, string> = {}, overrides: Partial<IntakeDeps> = {}): Promise<TestIntake> {
  const make = (client: string, scopes: Scope[]) => generateApiKey({ client, scopes });
  const portal = make('portal', ['submit', 'read']);
  const submitter = make('agency-odot', ['submit']);
  const reader = make('clerk-tool', ['read:any']);
  const otherPortal = make('other-portal', ['submit', 'read']);
  const records = [portal.record, submitter.record, reader.record, otherPortal.record];
  const store = memoryObjectStore();
  const sink = memorySink();
  const idempotency = memoryIdempotency();
  const rateLimiter = scriptedRateLimiter();
  const receipts = memoryReceipts();
  const pressure: { current: Pressure } = { current: { shed: false } };
  const app = await buildApp({
    settings: intakeSettings(env),
    logger: createLogger({ level: 'silent' }),
    clock: () => FIXED_NOW,
    apiKeys: verifierOf(records),
    rateLimiter,
    backpressure: { pressure: () => pressure.current },
    idempotency,
    statusSource: receipts,
    receipts,
    objectStore: store,
    sink,
    readiness: { kafka: () => Promise.resolve(), objectStore: () => store.ping() },
    metricsRegistry: new Registry(),
    ...overrides,
  });
  return { app, store, sink, idempotency, rateLimiter, receipts, pressure, keys: { portal: portal.key, otherPortal: otherPortal.key, submitter: submitter.key, reader: reader.key }, records };
}

export interface SeenResponse {
  method: string;
  /** The OpenAPI path template, e.g. /v1/submissions/{id}. */
  path: string;
  status: number;
  headers: Record<string, string | string[] | number | undefined>;
  body: string;
}

/** Asserts a real response is documented by the OpenAPI document: status, media type, body schema, required headers. */
export function openApiChecker(document: Record<string, unknown>): (r: SeenResponse) => void {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  ajv.addSchema(document, 'urn:permitflow:openapi');
  const escape = (s: string) => s.replaceAll('~', '~0').replaceAll('/', '~1');
  return (r) => {
    const paths = document.paths as Record<string, Record<string, { responses: Record<string, { content?: Record<string, unknown>; headers?: Record<string, { required?: boolean }> }> }>>;
    const operation = paths[r.path]?.[r.method.toLowerCase()];
    assert.ok(operation, `${r.method} ${r.path} is not in the OpenAPI document`);
    const response = operation.responses[String(r.status)];
    assert.ok(response, `${r.method} ${r.path} answered ${r.status}, which the OpenAPI document does not list`);
    for (const [name, header] of Object.entries(response.headers ?? {})) {
      if (header.required) assert.ok(r.headers[name.toLowerCase()] !== undefined, `${r.method} ${r.path} ${r.status}: header ${name} missing`);
    }
    if (!response.content) return;
    const mediaType = String(r.headers['content-type'] ?? '').split(';')[0]!.trim();
    assert.ok(mediaType in response.content, `${r.method} ${r.path} ${r.status}: media type ${mediaType} is not documented (${Object.keys(response.content).join(', ')})`);
    const pointer = `urn:permitflow:openapi#/paths/${escape(r.path)}/${r.method.toLowerCase()}/responses/${r.status}/content/${escape(mediaType)}/schema`;
    const validate = ajv.getSchema(pointer);
    assert.ok(validate, `no schema at ${pointer}`);
    const body: unknown = mediaType.endsWith('json') ? JSON.parse(r.body) : r.body;
    assert.ok(validate(body), `${r.method} ${r.path} ${r.status} does not match its OpenAPI schema: ${JSON.stringify(validate.errors)}`);
  };
}

export interface FilePart {
  field: string;
  name: string;
  type: string;
  bytes: Buffer;
}

/** A multipart/form-data body as a browser would send it. */
export async function multipartBody(application: unknown, files: FilePart[] = [], applicationAs: 'file' | 'field' = 'file'): Promise<{ payload: Buffer; contentType: string }> {
  const form = new FormData();
  const json = typeof application === 'string' ? application : JSON.stringify(application);
  if (applicationAs === 'file') form.append('application', new Blob([json], { type: 'application/json' }));
  else form.append('application', json);
  for (const f of files) form.append(f.field, new Blob([f.bytes], { type: f.type }), f.name);
  const request = new Request('http://localhost/', { method: 'POST', body: form });
  return { payload: Buffer.from(await request.arrayBuffer()), contentType: request.headers.get('content-type')! };
}
