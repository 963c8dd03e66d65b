/**
 * The Avro schemas of every permitflow record, loaded from `schemas/avro/*.avsc`.
 *
 * Named types shared by several records (PayloadRef, Attachment, StateHeader) live once in
 * `common.avsc`; each top-level schema refers to them by full name and is expanded here into
 * a self-contained schema, which is what gets registered (no registry references needed).
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import avro from 'avsc';

const AVRO_DIR = join(dirname(fileURLToPath(import.meta.url)), 'avro');

type AvroJson = string | number | boolean | null | AvroJson[] | { [key: string]: AvroJson };

/** Schema names, as `as const` so topics can name them type-safely. */
export const SCHEMA_FILES = {
  SubmissionEnvelope: 'submission-envelope.avsc',
  SubmissionReceived: 'state-received.avsc',
  SubmissionChunked: 'state-chunked.avsc',
  SubmissionEnriched: 'state-enriched.avsc',
  SubmissionValidated: 'state-validated.avsc',
  SubmissionAccepted: 'state-accepted.avsc',
  SubmissionRejected: 'state-rejected.avsc',
  BatchManifest: 'batch-manifest.avsc',
  DeadLetter: 'dead-letter.avsc',
  PermitApplication: 'permit-application.avsc',
} as const;

export type SchemaName = keyof typeof SCHEMA_FILES;

function readJson(file: string): AvroJson {
  return JSON.parse(readFileSync(join(AVRO_DIR, file), 'utf8')) as AvroJson;
}

const NAMESPACE = 'dev.permitflow.v1';
const common = new Map<string, AvroJson>(
  (readJson('common.avsc') as { name: string }[]).map((t) => [`${NAMESPACE}.${t.name}`, t as unknown as AvroJson]),
);

/** Replaces the first reference to each shared named type with its definition (Avro allows one definition per name). */
function expand(node: AvroJson, defined: Set<string>): AvroJson {
  if (typeof node === 'string') {
    const shared = common.get(node);
    if (shared === undefined || defined.has(node)) return node;
    defined.add(node);
    return expand(shared, defined);
  }
  if (Array.isArray(node)) return node.map((n) => expand(n, defined));
  if (node !== null && typeof node === 'object') {
    const out: Record<string, AvroJson> = {};
    for (const [k, v] of Object.entries(node)) {
      // Only type positions can reference named types; doc strings and defaults are left alone.
      out[k] = k === 'type' || k === 'items' || k === 'values' || k === 'fields' ? expand(v, defined) : v;
    }
    return out;
  }
  return node;
}

const cache = new Map<SchemaName, { json: AvroJson; type: avro.Type }>();

/** The self-contained Avro schema (JSON) and its parsed avsc type. */
export function loadSchema(name: SchemaName): { json: AvroJson; type: avro.Type } {
  let entry = cache.get(name);
  if (!entry) {
    const json = expand(readJson(SCHEMA_FILES[name]), new Set());
    entry = { json, type: avro.Type.forSchema(json as avro.Schema) };
    cache.set(name, entry);
  }
  return entry;
}

/** All schemas, parsed; throws on the first invalid one (used by tests and `topology apply`). */
export function loadAllSchemas(): Map<SchemaName, { json: AvroJson; type: avro.Type }> {
  return new Map((Object.keys(SCHEMA_FILES) as SchemaName[]).map((n) => [n, loadSchema(n)]));
}
