/**
 * The audit bucket: segments, manifests and signed roots, written once (conditional put) and
 * never deleted by permitflow (the application's credentials cannot). Where the store supports
 * S3 Object Lock the bucket's default retention keeps every version even from an overwrite.
 *
 * Its own small client rather than the claim-check store: the archive needs listing and the
 * bucket's lock configuration, and lives in another bucket.
 */
import { GetObjectCommand, GetObjectLockConfigurationCommand, ListObjectsV2Command, PutObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import type { Config } from '../../lib/config.ts';
import { ConfigError } from '../../lib/config.ts';
import { PermitflowError } from '../../lib/errors.ts';

export interface AuditStore {
  bucket: string;
  /** Writes the object unless the key exists; never overwrites. */
  putIfAbsent(key: string, body: Buffer, contentType: string): Promise<'created' | 'exists'>;
  /** The object's bytes, or undefined when there is no such key. */
  get(key: string): Promise<Buffer | undefined>;
  /** Every key under `prefix`, in key order. */
  list(prefix: string): Promise<string[]>;
  /** The bucket's default Object Lock retention, or undefined when the bucket has no lock. */
  objectLock(): Promise<{ mode: string; days?: number; years?: number } | undefined>;
  close(): void;
}

function httpStatus(err: unknown): number | undefined {
  return err instanceof S3ServiceException ? err.$metadata.httpStatusCode : undefined;
}

function wrap(err: unknown, what: string): PermitflowError {
  const status = httpStatus(err);
  const retriable = status === undefined || status >= 500 || status === 429;
  return new PermitflowError('PF_AUDIT_STORE', `${what} failed${status ? ` (HTTP ${status})` : ''}: ${(err as Error).message}`, retriable, { cause: err });
}

export function createAuditStore(config: Config): AuditStore {
  const { s3 } = config;
  if (!s3.accessKeyId || !s3.secretAccessKey) {
    throw new ConfigError(['S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY: not set (run `permitflow stack up`, which writes them to its env file, or export them)']);
  }
  const client = new S3Client({
    region: s3.region,
    forcePathStyle: s3.forcePathStyle,
    ...(s3.endpoint && { endpoint: s3.endpoint }),
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    maxAttempts: 3,
    logger: { trace: () => undefined, debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined },
  });
  const Bucket = config.audit.bucket;
  return {
    bucket: Bucket,
    async putIfAbsent(key, body, contentType) {
      try {
        await client.send(new PutObjectCommand({ Bucket, Key: key, Body: body, ContentType: contentType, ContentLength: body.length, IfNoneMatch: '*' }));
        return 'created';
      } catch (err) {
        const status = httpStatus(err);
        if (status === 412 || status === 409) return 'exists';
        throw wrap(err, `put ${key}`);
      }
    },
    async get(key) {
      try {
        const out = await client.send(new GetObjectCommand({ Bucket, Key: key }));
        return Buffer.from(await out.Body!.transformToByteArray());
      } catch (err) {
        if (httpStatus(err) === 404) return undefined;
        throw wrap(err, `get ${key}`);
      }
    },
    async list(prefix) {
      const keys: string[] = [];
      let token: string | undefined;
      try {
        do {
          const out = await client.send(new ListObjectsV2Command({ Bucket, Prefix: prefix, ContinuationToken: token }));
          for (const o of out.Contents ?? []) if (o.Key) keys.push(o.Key);
          token = out.IsTruncated ? out.NextContinuationToken : undefined;
        } while (token);
      } catch (err) {
        throw wrap(err, `list ${prefix}`);
      }
      return keys.sort();
    },
    async objectLock() {
      try {
        const out = await client.send(new GetObjectLockConfigurationCommand({ Bucket }));
        const retention = out.ObjectLockConfiguration?.Rule?.DefaultRetention;
        if (out.ObjectLockConfiguration?.ObjectLockEnabled !== 'Enabled') return undefined;
        return { mode: retention?.Mode ?? 'none', ...(retention?.Days && { days: retention.Days }), ...(retention?.Years && { years: retention.Years }) };
      } catch (err) {
        // No lock configuration on the bucket: S3 answers 404 ObjectLockConfigurationNotFoundError.
        if (httpStatus(err) === 404) return undefined;
        throw wrap(err, `object lock of ${Bucket}`);
      }
    },
    close() {
      client.destroy();
    },
  };
}
