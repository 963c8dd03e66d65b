/**
 * Avro serde in the Confluent wire format (magic byte 0, 4-byte schema id, Avro body) over
 * @kafkajs/confluent-schema-registry, with the topic-name subject strategy.
 *
 * Encoding looks up the id of our own schema under the topic's subject (it never registers:
 * `topology apply` does that, so running processes need only read access to the registry).
 * Decoding reads with the writer's schema and resolves into our reader schema, so records
 * written by an older or newer BACKWARD-compatible version decode to the shape we expect.
 */
import { SchemaRegistry, SchemaType, COMPATIBILITY } from '@kafkajs/confluent-schema-registry';
import type { Config } from '../lib/config.ts';
import { PermitflowError } from '../lib/errors.ts';
import type avro from 'avsc';
import { loadSchema, type SchemaName } from './index.ts';

export interface TopicSchema {
  name: string;
  subject: string;
  schema: SchemaName;
}

export interface Serde {
  encode(topic: TopicSchema, value: unknown): Promise<Buffer>;
  /** The registry id of this code's schema for the topic; PF_SCHEMA_NOT_REGISTERED when that version is not registered. */
  schemaId(topic: TopicSchema): Promise<number>;
  decode<T>(topic: TopicSchema, bytes: Buffer): Promise<T>;
  /** Registers a schema under a subject with BACKWARD compatibility; returns its id. */
  register(subject: string, schema: SchemaName | object): Promise<number>;
  registry: SchemaRegistry;
}

export function createRegistry(config: Config): SchemaRegistry {
  const timeoutMs = config.registry.timeoutMs;
  return new SchemaRegistry({
    host: config.registry.url,
    clientId: config.kafka.clientId,
    ...(config.registry.auth && { auth: config.registry.auth }),
    // Every call this project makes is safe to repeat (lookups, and registering a schema that
    // answers the same id twice), so POSTs are retried too: the library retries only GETs.
    // Retried: the registry's 5xx, a dropped connection ("socket hang up", which failed
    // `topology apply` in CI) and a request left unanswered past the timeout (the local
    // Apicurio once kept one for 30 minutes, until its idle timeout closed the connection).
    retry: {
      retries: 3,
      initialRetryTimeInSecs: 0.2,
      maxRetryTimeInSecs: 2,
      enableRetry: () => true,
      validateRetry: (response) => response.status() >= 500 || response.error()?.name === 'TimeoutError',
    },
    // The library sets no timeout, so an unanswered request waited for ever.
    middlewares: [() => ({ prepareRequest: (next) => next().then((request) => request.enhance({ timeout: timeoutMs })) })],
  });
}

/** The HTTP status of a registry error, when it carries one. */
function statusOf(err: unknown): number | undefined {
  return typeof err === 'object' && err !== null && 'status' in err ? Number((err).status) : undefined;
}

/**
 * The registry answered that this exact schema is not under the subject (404). The client
 * library rethrows that one answer as a bare ConfluentSchemaRegistryError without the status,
 * so it is recognised by name; every other failure keeps its status.
 */
function isNotRegistered(err: unknown): boolean {
  return statusOf(err) === 404 || (err instanceof Error && err.name === 'ConfluentSchemaRegistryError');
}

export function createSerde(registry: SchemaRegistry): Serde {
  const ids = new Map<string, Promise<number>>();

  function schemaId(topic: TopicSchema): Promise<number> {
    let id = ids.get(topic.subject);
    if (!id) {
      const json = loadSchema(topic.schema).json;
      id = registry.getRegistryIdBySchema(topic.subject, { type: SchemaType.AVRO, schema: JSON.stringify(json) }).catch((err: unknown) => {
        ids.delete(topic.subject);
        if (isNotRegistered(err)) {
          throw PermitflowError.permanent('PF_SCHEMA_NOT_REGISTERED', `this version of schema ${topic.schema} is not registered under ${topic.subject}: run \`permitflow topology apply\``, { cause: err });
        }
        throw PermitflowError.retriable('PF_REGISTRY_UNAVAILABLE', `schema registry lookup for ${topic.subject} failed`, { cause: err });
      });
      ids.set(topic.subject, id);
    }
    return id;
  }

  // One resolver per (reader schema, writer id): parsing a schema per record would dominate decoding.
  const readers = new Map<string, Promise<(body: Buffer) => unknown>>();

  async function buildReader(topic: TopicSchema, writerId: number): Promise<(body: Buffer) => unknown> {
    let writer: avro.Type;
    try {
      writer = (await registry.getSchema(writerId)) as unknown as avro.Type;
    } catch (err) {
      // Only the registry's own 404 says the id is unknown: the client reports a dropped
      // connection as status 400, and that must not dead-letter a good record.
      if (statusOf(err) === 404) {
        throw PermitflowError.permanent('PF_DECODE_FAILED', `record on ${topic.name} names writer schema id ${writerId}, unknown to the registry`, { cause: err });
      }
      throw PermitflowError.retriable('PF_REGISTRY_UNAVAILABLE', `schema registry unavailable while decoding ${topic.name}`, { cause: err });
    }
    const reader = loadSchema(topic.schema).type;
    try {
      const resolver = reader.createResolver(writer);
      return (body): unknown => reader.fromBuffer(body, resolver) as unknown;
    } catch (err) {
      throw PermitflowError.permanent('PF_DECODE_FAILED', `writer schema ${writerId} on ${topic.name} cannot be read as ${topic.schema}`, { cause: err });
    }
  }

  function readerFor(topic: TopicSchema, writerId: number): Promise<(body: Buffer) => unknown> {
    const key = `${topic.schema}:${writerId}`;
    let reader = readers.get(key);
    if (!reader) {
      reader = buildReader(topic, writerId);
      // A transient failure must not be remembered; a permanent one may be.
      reader.catch((err: unknown) => {
        if (err instanceof PermitflowError && err.retriable) readers.delete(key);
      });
      readers.set(key, reader);
    }
    return reader;
  }

  /** Where encode writes before copying out; grows to the largest record seen. */
  let scratch = Buffer.allocUnsafe(64 * 1024);

  return {
    registry,
    schemaId,
    async encode(topic, value) {
      const id = await schemaId(topic);
      // The id is that of our own schema (looked up, not registered), so our parsed type writes
      // the body directly: one traversal, where the library validates and then serialises.
      const type = loadSchema(topic.schema).type;
      let end: number;
      try {
        // Header and body written once into a scratch buffer, then copied out once: avsc's
        // toBuffer writes any value over 1 KB twice (a record with an inline payload is).
        end = type.encode(value, scratch, 5);
        if (end < 0) {
          scratch = Buffer.allocUnsafe(Math.max(scratch.length * 2, scratch.length - end));
          end = type.encode(value, scratch, 5);
        }
      } catch {
        // Paths and expected types only: avsc's own message quotes the whole value.
        const problems: string[] = [];
        type.isValid(value, { errorHook: (path, _value, expected) => problems.push(`${path.join('.')} (${expected.typeName})`) });
        throw PermitflowError.permanent('PF_ENCODE_FAILED', `value does not match ${topic.schema} at ${problems.join(', ') || '?'}`);
      }
      const bytes = Buffer.allocUnsafe(end);
      scratch.copy(bytes, 0, 0, end);
      bytes[0] = 0;
      bytes.writeInt32BE(id, 1);
      return bytes;
    },
    async decode<T>(topic: TopicSchema, bytes: Buffer): Promise<T> {
      if (bytes.length < 5 || bytes[0] !== 0) {
        throw PermitflowError.permanent('PF_DECODE_FAILED', `record on ${topic.name} is not in the Confluent wire format (no magic byte)`);
      }
      const read = await readerFor(topic, bytes.readInt32BE(1));
      try {
        return read(bytes.subarray(5)) as T;
      } catch (err) {
        throw PermitflowError.permanent('PF_DECODE_FAILED', `record on ${topic.name} does not decode as ${topic.schema}: ${(err as Error).message}`, { cause: err });
      }
    },
    async register(subject, schema) {
      const json = typeof schema === 'string' ? loadSchema(schema).json : schema;
      try {
        const { id } = await registry.register(
          { type: SchemaType.AVRO, schema: JSON.stringify(json) },
          { subject, compatibility: COMPATIBILITY.BACKWARD },
        );
        ids.delete(subject);
        return id;
      } catch (err) {
        const status = statusOf(err);
        if (status === 409) {
          throw PermitflowError.permanent('PF_SCHEMA_INCOMPATIBLE', `schema for ${subject} is not BACKWARD-compatible with the registered versions: ${(err as Error).message}`, { cause: err });
        }
        throw PermitflowError.retriable('PF_REGISTRY_UNAVAILABLE', `registering ${subject} failed: ${(err as Error).message}`, { cause: err });
      }
    },
  };
}
