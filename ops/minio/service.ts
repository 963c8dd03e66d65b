/**
 * MinIO for the local stack, built from source through the Go module proxy (`go install`) into
 * the cache, since no prebuilt binary can be downloaded here.
 *
 * The root credentials stay with the stack; the application gets its own user limited to its
 * bucket, the audit archiver another limited to audit/ of the audit bucket (see admin.ts), and
 * those are the credentials written to the env file.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { CreateBucketCommand, GetObjectLockConfigurationCommand, HeadBucketCommand, ListBucketsCommand, PutObjectLockConfigurationCommand, S3Client } from '@aws-sdk/client-s3';
import { childEnv, logFile, spawnDetached } from '../stack/proc.ts';
import { HOST } from '../stack/service.ts';
import type { Service, StackContext } from '../stack/service.ts';
import { ensureGoCommand, goCommandPath } from '../stack/tools.ts';
import type { GoCommand } from '../stack/tools.ts';
import { AUDIT_ARCHIVER_ACCESS_KEY_ID } from '../stack/secrets.ts';
import type { Config } from '../../lib/config.ts';
import { archiverPolicy, bucketPolicy, ensureUserWithPolicy } from './admin.ts';

/** Pinned MinIO server module version (a pseudo-version: MinIO no longer tags Go releases). */
export const MINIO_MODULE = 'github.com/minio/minio';
export const MINIO_VERSION = 'v0.0.0-20260212201848-7aac2a2c5b7c';
const MINIO_COMMAND: GoCommand = { pkg: MINIO_MODULE, version: MINIO_VERSION, binary: 'minio', minGo: '1.24' };
const APP_POLICY = 'permitflow-app';
const ARCHIVER_POLICY = 'permitflow-archiver';

type Credentials = { accessKeyId: string; secretAccessKey: string };

/**
 * What permitflow needs of a MinIO: the application's bucket, the audit bucket with Object Lock
 * and its default retention, and two users with their policies: the application's (its bucket
 * only) and the archiver's (put, read, list under audit/, no delete). Safe to run again. Used by
 * `stack up` and by the testcontainers path (test/support/containers.ts), so both give the same.
 */
export async function provisionMinio(options: { endpoint: string; region: string; root: Credentials; app: Credentials; archiver: Credentials; bucket: string; audit: Pick<Config['audit'], 'bucket' | 'objectLock'> }): Promise<void> {
  const { endpoint, region, root, app, archiver, bucket, audit } = options;
  const client = new S3Client({ endpoint, region, forcePathStyle: true, credentials: root, maxAttempts: 1 });
  const exists = (err: Error) => {
    if (err.name !== 'BucketAlreadyOwnedByYou' && err.name !== 'BucketAlreadyExists') throw err;
  };
  try {
    await client.send(new CreateBucketCommand({ Bucket: bucket }), { abortSignal: AbortSignal.timeout(10_000) }).catch(exists);
    // The audit archive: Object Lock can only be turned on when a bucket is created.
    await client.send(new CreateBucketCommand({ Bucket: audit.bucket, ObjectLockEnabledForBucket: true }), { abortSignal: AbortSignal.timeout(10_000) }).catch(exists);
    await client.send(
      new PutObjectLockConfigurationCommand({
        Bucket: audit.bucket,
        ObjectLockConfiguration: { ObjectLockEnabled: 'Enabled', Rule: { DefaultRetention: { Mode: audit.objectLock.mode, Days: audit.objectLock.retentionDays } } },
      }),
      { abortSignal: AbortSignal.timeout(10_000) },
    );
  } finally {
    client.destroy();
  }
  await ensureUserWithPolicy({ endpoint, region, ...root }, app, APP_POLICY, bucketPolicy(bucket));
  await ensureUserWithPolicy({ endpoint, region, ...root }, archiver, ARCHIVER_POLICY, archiverPolicy(audit.bucket));
}

export function minioService(ctx: StackContext): Service {
  const { ports } = ctx.config.stack;
  const { region, bucket } = ctx.config.s3;
  const audit = ctx.config.audit;
  const binary = goCommandPath(ctx.paths.cache, MINIO_COMMAND);
  const dir = join(ctx.paths.dir, 'minio');
  const dataDir = join(dir, 'data');
  const endpoint = `http://${HOST}:${ports.minio}`;
  const prepareLog = logFile(ctx.paths, 'minio.prepare');
  const root = { accessKeyId: ctx.secrets.minioRootUser, secretAccessKey: ctx.secrets.minioRootPassword };
  const app = { accessKeyId: ctx.secrets.s3AccessKeyId, secretAccessKey: ctx.secrets.s3SecretAccessKey };
  // Every `up` gives a stack its secret (secrets.ts); only a stack that is merely being stopped lacks it.
  const archiver = { accessKeyId: AUDIT_ARCHIVER_ACCESS_KEY_ID, secretAccessKey: ctx.secrets.auditS3SecretAccessKey ?? '' };

  const s3 = (credentials: typeof root): S3Client => new S3Client({ endpoint, region, forcePathStyle: true, credentials, maxAttempts: 1 });

  return {
    name: 'minio',
    endpoint,
    ports: [ports.minio, ports.minioConsole],
    after: [],
    stopSignal: 'SIGTERM',
    stopTimeoutMs: 15_000,
    owns: (cmd) => cmd.includes('minio server') && cmd.includes(dataDir),

    async prepare() {
      await ensureGoCommand(ctx.paths.cache, MINIO_COMMAND, { log: prepareLog, say: (message) => ctx.say('minio', message) });
      mkdirSync(dataDir, { recursive: true });
      mkdirSync(join(dir, 'certs'), { recursive: true });
    },

    start() {
      return Promise.resolve(
        spawnDetached({
          paths: ctx.paths,
          name: 'minio',
          command: binary,
          args: [
            'server',
            dataDir,
            '--address',
            `${HOST}:${ports.minio}`,
            '--console-address',
            `${HOST}:${ports.minioConsole}`,
            // Not ~/.minio/certs: the stack keeps to its own folder.
            '--certs-dir',
            join(dir, 'certs'),
            // The start-up banner would print the root credentials into the log.
            '--anonymous',
          ],
          env: childEnv({
            MINIO_ROOT_USER: root.accessKeyId,
            MINIO_ROOT_PASSWORD: root.secretAccessKey,
            MINIO_UPDATE: 'off',
            MINIO_CALLHOME_ENABLE: 'off',
          }),
          cwd: dir,
        }),
      );
    },

    async probe() {
      const client = s3(root);
      try {
        await client.send(new ListBucketsCommand({}), { abortSignal: AbortSignal.timeout(3000) });
      } finally {
        client.destroy();
      }
    },

    async configure() {
      await provisionMinio({ endpoint, region, root, app, archiver, bucket, audit });
      // Proves the credentials that go into the env file work.
      const appClient = s3(app);
      const archiverClient = s3(archiver);
      try {
        await appClient.send(new HeadBucketCommand({ Bucket: bucket }), { abortSignal: AbortSignal.timeout(5000) });
        await archiverClient.send(new GetObjectLockConfigurationCommand({ Bucket: audit.bucket }), { abortSignal: AbortSignal.timeout(5000) });
      } finally {
        appClient.destroy();
        archiverClient.destroy();
      }
    },

    env: () => ({
      S3_ENDPOINT: endpoint,
      S3_BUCKET: bucket,
      S3_AUDIT_BUCKET: audit.bucket,
      S3_REGION: region,
      S3_FORCE_PATH_STYLE: 'true',
      S3_ACCESS_KEY_ID: app.accessKeyId,
      S3_SECRET_ACCESS_KEY: app.secretAccessKey,
      AUDIT_S3_ACCESS_KEY_ID: archiver.accessKeyId,
      AUDIT_S3_SECRET_ACCESS_KEY: archiver.secretAccessKey,
    }),
  };
}
