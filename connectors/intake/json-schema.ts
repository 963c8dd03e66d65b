/**
 * The intake's JSON Schema (2020-12) for a submission, derived from the Avro model
 * (`schemas/avro/permit-application.avsc`), so the two cannot drift: a field added to the Avro
 * record is accepted over HTTP with the same type and optionality.
 *
 * Mapping: records become closed objects whose required properties are the fields without an
 * Avro default; `["null", T]` becomes T-or-null; maps become objects of values; int and long keep
 * their ranges. What Avro cannot say (formats, patterns, ranges) comes from a small overlay that
 * only narrows, so whatever the JSON Schema accepts the Avro model accepts too
 * (`test/unit/intake-json-schema.test.ts` proves both directions on samples and mutations).
 */
import { loadSchema } from '../../schemas/index.ts';

export type JsonSchema = { [key: string]: unknown };

type AvroNode = string | AvroNode[] | { [key: string]: unknown };
interface AvroField {
  name: string;
  type: AvroNode;
  default?: unknown;
  doc?: string;
}

const INT32 = { minimum: -(2 ** 31), maximum: 2 ** 31 - 1 };

/** Constraints the Avro model cannot express, by dotted field path; each only narrows a field. */
export const PERMIT_APPLICATION_OVERLAY: Record<string, JsonSchema> = {
  jurisdiction: { minLength: 1, pattern: '^[a-z0-9][a-z0-9-]*$' },
  appliedAt: { format: 'date-time' },
  'site.address.state': { pattern: '^[A-Z]{2}$' },
  'site.latitude': { minimum: -90, maximum: 90 },
  'site.longitude': { minimum: -180, maximum: 180 },
  'applicant.email': { format: 'email' },
  'contractor.email': { format: 'email' },
  'project.estimatedCost': { minimum: 0 },
  'payment.amountPaid': { minimum: 0 },
  'payment.currency': { pattern: '^[A-Z]{3}$' },
};

function withNull(schema: JsonSchema): JsonSchema {
  const type = schema.type;
  if (Array.isArray(schema.enum)) return { ...schema, type: [type, 'null'], enum: [...(schema.enum as unknown[]), null] };
  if (typeof type === 'string') return { ...schema, type: [type, 'null'] };
  if (Array.isArray(type)) return { ...schema, type: [...(type as string[]), 'null'] };
  return { anyOf: [schema, { type: 'null' }] };
}

interface Context {
  named: Map<string, AvroNode>;
  overlay: Record<string, JsonSchema>;
  used: Set<string>;
}

function convert(node: AvroNode, path: string, ctx: Context): JsonSchema {
  if (Array.isArray(node)) {
    const branches = node.filter((b) => b !== 'null');
    const nullable = branches.length < node.length;
    if (branches.length !== 1) {
      // The intake's JSON carries plain values, so a union must be decidable by JSON type alone.
      throw new Error(`${path || '<root>'}: unions other than [null, T] have no plain JSON form`);
    }
    const inner = convert(branches[0]!, path, ctx);
    return nullable ? withNull(inner) : inner;
  }
  const type = typeof node === 'string' ? node : (node.type as AvroNode);
  if (typeof node === 'string' && ctx.named.has(node)) return convert(ctx.named.get(node)!, path, ctx);
  if (typeof type !== 'string') return convert(type, path, ctx);
  const def = typeof node === 'object' ? node : {};
  switch (type) {
    case 'null':
      return { type: 'null' };
    case 'boolean':
      return { type: 'boolean' };
    case 'int':
      return { type: 'integer', ...INT32 };
    case 'long':
      return { type: 'integer', minimum: Number.MIN_SAFE_INTEGER, maximum: Number.MAX_SAFE_INTEGER };
    case 'float':
    case 'double':
      return { type: 'number' };
    case 'string':
      return { type: 'string' };
    case 'enum':
      return { type: 'string', enum: def.symbols };
    case 'array':
      return { type: 'array', items: convert(def.items as AvroNode, `${path}[]`, ctx) };
    case 'map':
      return { type: 'object', additionalProperties: convert(def.values as AvroNode, `${path}{}`, ctx) };
    case 'record':
      return record(def as { name: string; namespace?: string; fields: AvroField[]; doc?: string }, path, ctx);
    default:
      // bytes and fixed have no JSON form a portal would send.
      throw new Error(`${path || '<root>'}: Avro type ${type} has no JSON form in the intake`);
  }
}

function record(def: { name: string; namespace?: string; fields: AvroField[]; doc?: string }, path: string, ctx: Context): JsonSchema {
  const fullName = def.name.includes('.') || !def.namespace ? def.name : `${def.namespace}.${def.name}`;
  ctx.named.set(fullName, def);
  ctx.named.set(def.name, def);
  const properties: Record<string, JsonSchema> = {};
  const required: string[] = [];
  for (const field of def.fields) {
    const fieldPath = path ? `${path}.${field.name}` : field.name;
    let schema = convert(field.type, fieldPath, ctx);
    const extra = ctx.overlay[fieldPath];
    if (extra) {
      schema = { ...schema, ...extra };
      ctx.used.add(fieldPath);
    }
    if (field.doc) schema = { ...schema, description: field.doc };
    properties[field.name] = schema;
    if (!('default' in field)) required.push(field.name);
  }
  return { type: 'object', ...(def.doc && { description: def.doc }), properties, required, additionalProperties: false };
}

/** Converts an Avro record schema (JSON form) into a JSON Schema; throws if an overlay path names no field. */
export function avroToJsonSchema(avro: unknown, overlay: Record<string, JsonSchema> = {}): JsonSchema {
  const ctx: Context = { named: new Map(), overlay, used: new Set() };
  const schema = convert(avro as AvroNode, '', ctx);
  const unused = Object.keys(overlay).filter((p) => !ctx.used.has(p));
  if (unused.length > 0) throw new Error(`overlay names fields the Avro model does not have: ${unused.join(', ')}`);
  return schema;
}

let cached: JsonSchema | undefined;

/** The JSON Schema of a permit application as submitted over HTTP. */
export function permitApplicationJsonSchema(): JsonSchema {
  cached ??= {
    $id: 'urn:permitflow:schema:PermitApplication',
    title: 'PermitApplication',
    ...avroToJsonSchema(loadSchema('PermitApplication').json, PERMIT_APPLICATION_OVERLAY),
  };
  return cached;
}
