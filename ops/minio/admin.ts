/**
 * The three MinIO admin API calls that give the application its own least-privilege user
 * (instead of the root credentials), without the `mc` client: AWS SigV4-signed requests, and for
 * add-user the body encryption of github.com/minio/madmin-go (EncryptData), in its PBKDF2 +
 * AES-256-GCM variant which the server accepts alongside Argon2id.
 */
import { createCipheriv, createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';

export interface AdminTarget {
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
}

const sha256 = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');
const hmac = (key: string | Buffer, data: string): Buffer => createHmac('sha256', key).update(data).digest();
const rfc3986 = (s: string): string => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/** Signs and sends one admin request; rejects on a non-2xx answer. */
async function adminRequest(target: AdminTarget, method: string, path: string, query: Record<string, string>, body: Buffer): Promise<void> {
  const url = new URL(`/minio/admin/v3/${path}`, target.endpoint);
  const canonicalQuery = Object.keys(query)
    .sort()
    .map((k) => `${rfc3986(k)}=${rfc3986(query[k] ?? '')}`)
    .join('&');
  const amzDate = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
  const day = amzDate.slice(0, 8);
  const payloadHash = sha256(body);
  const signedHeaders = 'host;x-amz-content-sha256;x-amz-date';
  const canonicalRequest = [method, url.pathname, canonicalQuery, `host:${url.host}`, `x-amz-content-sha256:${payloadHash}`, `x-amz-date:${amzDate}`, '', signedHeaders, payloadHash].join('\n');
  const scope = `${day}/${target.region}/s3/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256(canonicalRequest)].join('\n');
  const signingKey = hmac(hmac(hmac(hmac(`AWS4${target.secretAccessKey}`, day), target.region), 's3'), 'aws4_request');
  const signature = createHmac('sha256', signingKey).update(stringToSign).digest('hex');
  const res = await fetch(`${url.origin}${url.pathname}?${canonicalQuery}`, {
    method,
    headers: {
      'x-amz-date': amzDate,
      'x-amz-content-sha256': payloadHash,
      authorization: `AWS4-HMAC-SHA256 Credential=${target.accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`,
    },
    body: body.length > 0 ? body : undefined,
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`MinIO admin ${path} answered ${res.status}: ${text.slice(0, 300)}`);
}

/**
 * madmin's EncryptData: salt(32) | 0x02 (PBKDF2-SHA256, AES-256-GCM) | nonce(8) | sio stream.
 * The sio stream of a body under 16 KiB is one final fragment, sealed with sequence number 1 and,
 * as associated data, 0x80 followed by the tag of an empty seal at sequence number 0.
 */
export function madminEncrypt(password: string, plaintext: Buffer): Buffer {
  const salt = randomBytes(32);
  const nonce = randomBytes(8);
  const key = pbkdf2Sync(password, salt, 8192, 32, 'sha256');
  const nonceFor = (seq: number): Buffer => {
    const n = Buffer.alloc(12);
    nonce.copy(n, 0);
    n.writeUInt32LE(seq, 8);
    return n;
  };
  const header = createCipheriv('aes-256-gcm', key, nonceFor(0));
  header.final();
  const associatedData = Buffer.concat([Buffer.from([0x80]), header.getAuthTag()]);
  const cipher = createCipheriv('aes-256-gcm', key, nonceFor(1));
  cipher.setAAD(associatedData);
  const sealed = Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
  return Buffer.concat([salt, Buffer.from([0x02]), nonce, sealed]);
}

/**
 * Creates (or updates) `policyName` and the user `accessKeyId` with that policy; every call is
 * idempotent, so `stack up` runs it each time.
 */
export async function ensureUserWithPolicy(root: AdminTarget, user: { accessKeyId: string; secretAccessKey: string }, policyName: string, policy: object): Promise<void> {
  await adminRequest(root, 'PUT', 'add-canned-policy', { name: policyName }, Buffer.from(JSON.stringify(policy)));
  const body = madminEncrypt(root.secretAccessKey, Buffer.from(JSON.stringify({ secretKey: user.secretAccessKey, status: 'enabled' })));
  await adminRequest(root, 'PUT', 'add-user', { accessKey: user.accessKeyId }, body);
  await adminRequest(root, 'PUT', 'set-user-or-group-policy', { policyName, userOrGroup: user.accessKeyId, isGroup: 'false' }, Buffer.alloc(0));
}

/**
 * Read and write objects of the application's bucket; no deletes (claim-check objects are written
 * once, never modified). Nothing in the audit bucket: that is the archiver's user's
 * (`archiverPolicy`).
 */
export function bucketPolicy(bucket: string): object {
  return {
    Version: '2012-10-17',
    Statement: [
      { Effect: 'Allow', Action: ['s3:GetBucketLocation', 's3:ListBucket', 's3:ListBucketMultipartUploads'], Resource: [`arn:aws:s3:::${bucket}`] },
      { Effect: 'Allow', Action: ['s3:GetObject', 's3:PutObject', 's3:AbortMultipartUpload', 's3:ListMultipartUploadParts'], Resource: [`arn:aws:s3:::${bucket}/*`] },
    ],
  };
}

/**
 * The audit archiver's user (and `permitflow audit`): put, read and list objects under `audit/`
 * of the audit bucket, and read its lock settings. No delete, no retention change, no
 * governance bypass (those stay with the root user), nothing outside `audit/` or in another bucket.
 */
export function archiverPolicy(auditBucket: string): object {
  return {
    Version: '2012-10-17',
    Statement: [
      { Effect: 'Allow', Action: ['s3:GetBucketLocation', 's3:GetBucketObjectLockConfiguration'], Resource: [`arn:aws:s3:::${auditBucket}`] },
      { Effect: 'Allow', Action: ['s3:ListBucket'], Resource: [`arn:aws:s3:::${auditBucket}`], Condition: { StringLike: { 's3:prefix': ['audit/*'] } } },
      { Effect: 'Allow', Action: ['s3:GetObject', 's3:PutObject'], Resource: [`arn:aws:s3:::${auditBucket}/audit/*`] },
    ],
  };
}
