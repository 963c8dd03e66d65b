/**
 * The S3-compatible object store (MinIO locally, S3 in production): claim-checked payloads,
 * attachments and batch archives, under content-addressed keys, written once.
 */
import {
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import type { Readable } from 'node:stream';
import type { Config } from '../lib/config.ts';
import { ConfigError } from '../lib/config.ts';
import type { ErrorCode } from '../lib/error-codes.ts';
import { PermitflowError } from '../lib/errors.ts';
import type { ObjectStore } from '../domain/ports.ts';

export type { ObjectStore };

/** The HTTP status an S3 call failed with, if it got an answer. */
export function s3HttpStatus(err: unknown): number | undefined {
  return err instanceof S3ServiceException ? err.$metadata.httpStatusCode : undefined;
}

/** A failed S3 call as a PermitflowError: retriable unless the store answered with a client error. */
export function wrapS3Error(err: unknown, what: string, code: ErrorCode = 'PF_OBJECT_STORE'): PermitflowError {
  const status = s3HttpStatus(err);
  const retriable = status === undefined || status >= 500 || status === 429;
  return new PermitflowError(code, `${what} failed${status ? ` (HTTP ${status})` : ''}: ${(err as Error).message}`, retriable, { cause: err });
}

/**
 * An S3 client for the configured endpoint, with the application's credentials unless others are
 * given (the audit archive has a user of its own).
 */
export function createS3Client(config: Config, credentials?: { accessKeyId: string; secretAccessKey: string }): S3Client {
  const { s3 } = config;
  const accessKeyId = credentials?.accessKeyId ?? s3.accessKeyId;
  const secretAccessKey = credentials?.secretAccessKey ?? s3.secretAccessKey;
  if (!accessKeyId || !secretAccessKey) {
    throw new ConfigError(['S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY: not set (run `permitflow stack up`, which writes them to its env file, or export them)']);
  }
  return new S3Client({
    region: s3.region,
    forcePathStyle: s3.forcePathStyle,
    ...(s3.endpoint && { endpoint: s3.endpoint }),
    credentials: { accessKeyId, secretAccessKey },
    maxAttempts: 3,
    // A request whose socket goes silent this long is abandoned and retried (maxAttempts): it
    // would otherwise hold a windower's commit, which waits for the batch archive. Silence, not
    // the whole transfer, so large objects are unaffected. The SDK's own default is 30 s.
    requestHandler: { connectionTimeout: 5_000, socketTimeout: s3.requestTimeoutMs },
    // Without a logger the SDK writes to the console, e.g. on every refused conditional put of a
    // streamed body; failures reach us as errors, which callers classify and log.
    logger: { trace: () => undefined, debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined },
  });
}

export function createObjectStore(config: Config): ObjectStore {
  const client = createS3Client(config);
  const Bucket = config.s3.bucket;

  return {
    bucket: Bucket,
    async putIfAbsent(key, body, { contentType, contentLength }) {
      try {
        await client.send(new PutObjectCommand({ Bucket, Key: key, Body: body, ContentType: contentType, ContentLength: contentLength, IfNoneMatch: '*' }));
        return 'created';
      } catch (err) {
        // 412: the key exists. 409: a concurrent conditional put of the same key is in progress.
        const status = s3HttpStatus(err);
        if (status === 412 || status === 409) return 'exists';
        throw wrapS3Error(err, `put ${key}`);
      }
    },
    async get(key) {
      const stream = await this.getStream(key);
      const chunks: Buffer[] = [];
      for await (const chunk of stream) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks);
    },
    async getStream(key) {
      try {
        const out = await client.send(new GetObjectCommand({ Bucket, Key: key }));
        return out.Body as Readable;
      } catch (err) {
        throw wrapS3Error(err, `get ${key}`);
      }
    },
    async exists(key) {
      try {
        await client.send(new HeadObjectCommand({ Bucket, Key: key }));
        return true;
      } catch (err) {
        if (s3HttpStatus(err) === 404) return false;
        throw wrapS3Error(err, `head ${key}`);
      }
    },
    async ping() {
      try {
        await client.send(new HeadBucketCommand({ Bucket }));
      } catch (err) {
        throw wrapS3Error(err, `head bucket ${Bucket}`);
      }
    },
    close() {
      client.destroy();
    },
  };
}
