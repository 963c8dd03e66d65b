/**
 * The audit bucket: segments, manifests and signed roots, written once (conditional put) and
 * never deleted by permitflow (its credentials cannot). Where the store supports
 * S3 Object Lock the bucket's default retention keeps every version even from an overwrite.
 *
 * Its own store rather than the claim-check one (same S3 client and error mapping): the archive
 * needs listing and the bucket's lock configuration, and lives in another bucket.
 */
import { GetObjectCommand, GetObjectLockConfigurationCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import type { Config } from '../../lib/config.ts';
import { createS3Client, s3HttpStatus, wrapS3Error } from '../object-store.ts';

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

const wrap = (err: unknown, what: string) => wrapS3Error(err, what, 'PF_AUDIT_STORE');

export function createAuditStore(config: Config): AuditStore {
  // The archive's own user where configured: put, read and list under audit/, never delete.
  const client = createS3Client(config, config.audit.credentials);
  const Bucket = config.audit.bucket;
  return {
    bucket: Bucket,
    async putIfAbsent(key, body, contentType) {
      try {
        await client.send(new PutObjectCommand({ Bucket, Key: key, Body: body, ContentType: contentType, ContentLength: body.length, IfNoneMatch: '*' }));
        return 'created';
      } catch (err) {
        const status = s3HttpStatus(err);
        if (status === 412 || status === 409) return 'exists';
        throw wrap(err, `put ${key}`);
      }
    },
    async get(key) {
      try {
        const out = await client.send(new GetObjectCommand({ Bucket, Key: key }));
        return Buffer.from(await out.Body!.transformToByteArray());
      } catch (err) {
        if (s3HttpStatus(err) === 404) return undefined;
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
        if (s3HttpStatus(err) === 404) return undefined;
        throw wrap(err, `object lock of ${Bucket}`);
      }
    },
    close() {
      client.destroy();
    },
  };
}
