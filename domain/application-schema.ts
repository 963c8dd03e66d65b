/**
 * The intake's JSON Schema (2020-12) for a submission, derived from the Avro model
 * (`schemas/avro/permit-application.avsc`), so the two cannot drift: a field added to the Avro
 * record is accepted over HTTP with the same type and optionality.
 *
 * Mapping: records become closed objects whose required properties are the fields without an
 * Avro default; `["null", T]` becomes T-or-null; maps become objects of values; int and long keep
 * their ranges. What Avro cannot say (formats, patterns, ranges, lengths) comes from a small
 * overlay, so whatever the JSON Schema accepts the Avro model accepts too
 * (`test/unit/intake-json-schema.test.ts` proves both directions on samples and mutations).
 *
 * Everything is bounded (issue 14): every string has a `maxLength` (`STRING_MAX_LENGTH` unless
 * the overlay says otherwise), maps a `maxProperties` and a key length, arrays a `maxItems`,
 * numbers a range. An
 * unbounded field lets one request stall a stage (a 3 KB reference passes no PostgreSQL index) or
 * its validation exhaust memory (a million map keys).
 */
import { loadSchema } from '../schemas/index.ts';

export type JsonSchema = { [key: string]: unknown };

type AvroNode = string | AvroNode[] | { [key: string]: unknown };
interface AvroField {
  name: string;
  type: AvroNode;
  default?: unknown;
  doc?: string;
}

const INT32 = { minimum: -(2 ** 31), maximum: 2 ** 31 - 1 };

/** Default bound of a string field: names, references, codes, addresses. */
export const STRING_MAX_LENGTH = 200;
/** Default bounds of maps (`extraFields`: how many keys, how long) and arrays. */
export const MAP_MAX_PROPERTIES = 100;
export const MAP_KEY_MAX_LENGTH = 100;
export const ARRAY_MAX_ITEMS = 100;

/**
 * Constraints the Avro model cannot express, by dotted field path (`[]` an array's items, `{}` a
 * map's values); each only narrows the Avro type. Money and areas are bounded so that cents and
 * products stay exact integers (a fee of 1e14 would overflow the validator's Avro long in cents).
 */
export const PERMIT_APPLICATION_OVERLAY: Record<string, JsonSchema> = {
  jurisdiction: { minLength: 1, maxLength: 100, pattern: '^[a-z0-9][a-z0-9-]*$' },
  permitTypeDescription: { maxLength: 1000 },
  description: { maxLength: 10_000 },
  appliedAt: { format: 'date-time', maxLength: 64 },
  'site.address.state': { pattern: '^[A-Z]{2}$' },
  'site.address.postalCode': { maxLength: 20 },
  'site.latitude': { minimum: -90, maximum: 90 },
  'site.longitude': { minimum: -180, maximum: 180 },
  // RFC 5321: a path of at most 256 octets, so an address of at most 254 characters.
  'applicant.email': { format: 'email', maxLength: 254 },
  'applicant.phone': { maxLength: 40 },
  'contractor.email': { format: 'email', maxLength: 254 },
  'contractor.phone': { maxLength: 40 },
  'project.estimatedCost': { minimum: 0, maximum: 1e12 },
  'project.totalSqFt': { minimum: 0, maximum: 1e9 },
  'project.addedSqFt': { minimum: 0, maximum: 1e9 },
  'project.removedSqFt': { minimum: 0, maximum: 1e9 },
  'project.housingUnits': { minimum: 0, maximum: 1_000_000 },
  'project.stories': { minimum: 0, maximum: 1000 },
  'payment.amountPaid': { minimum: 0, maximum: 1e10 },
  'payment.currency': { pattern: '^[A-Z]{3}$' },
  'extraFields{}': { maxLength: 2000 },
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
      return { type: 'string', maxLength: STRING_MAX_LENGTH };
    case 'enum':
      return { type: 'string', enum: def.symbols };
    case 'array':
      return { type: 'array', maxItems: ARRAY_MAX_ITEMS, items: withOverlay(convert(def.items as AvroNode, `${path}[]`, ctx), `${path}[]`, ctx) };
    case 'map':
      return {
        type: 'object',
        maxProperties: MAP_MAX_PROPERTIES,
        propertyNames: { maxLength: MAP_KEY_MAX_LENGTH },
        additionalProperties: withOverlay(convert(def.values as AvroNode, `${path}{}`, ctx), `${path}{}`, ctx),
      };
    case 'record':
      return record(def as { name: string; namespace?: string; fields: AvroField[]; doc?: string }, path, ctx);
    default:
      // bytes and fixed have no JSON form a portal would send.
      throw new Error(`${path || '<root>'}: Avro type ${type} has no JSON form in the intake`);
  }
}

function withOverlay(schema: JsonSchema, path: string, ctx: Context): JsonSchema {
  const extra = ctx.overlay[path];
  if (!extra) return schema;
  ctx.used.add(path);
  return { ...schema, ...extra };
}

function record(def: { name: string; namespace?: string; fields: AvroField[]; doc?: string }, path: string, ctx: Context): JsonSchema {
  const fullName = def.name.includes('.') || !def.namespace ? def.name : `${def.namespace}.${def.name}`;
  ctx.named.set(fullName, def);
  ctx.named.set(def.name, def);
  const properties: Record<string, JsonSchema> = {};
  const required: string[] = [];
  for (const field of def.fields) {
    const fieldPath = path ? `${path}.${field.name}` : field.name;
    let schema = withOverlay(convert(field.type, fieldPath, ctx), fieldPath, ctx);
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
