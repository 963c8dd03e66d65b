/**
 * Credentials of the local stack, generated on the first `up` and kept in <stack dir>/secrets.json
 * (mode 0600, never in the repository). They must stay stable: MinIO encrypts its IAM data with
 * the root credentials, and PostgreSQL keeps the role passwords set at first start.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { StackError } from './service.ts';

const secretsSchema = z.object({
  minioRootUser: z.string().min(3),
  minioRootPassword: z.string().min(8),
  s3AccessKeyId: z.string().min(3),
  s3SecretAccessKey: z.string().min(8),
  redisPassword: z.string().min(16),
  postgresSuperPassword: z.string().min(16),
  postgresPassword: z.string().min(16),
  kafkaClusterId: z.string().length(22),
  /** Ed25519 key the archiver signs audit roots with (PKCS#8 DER, base64); added to older stacks on their next `up`. */
  auditSigningKey: z.string().min(40).optional(),
  /** Secret of the archiver's own MinIO user (`AUDIT_ARCHIVER_ACCESS_KEY_ID`); added to older stacks on their next `up`. */
  auditS3SecretAccessKey: z.string().min(8).optional(),
});

/** Access key of the archiver's MinIO user: put, read and list under audit/ of the audit bucket only. */
export const AUDIT_ARCHIVER_ACCESS_KEY_ID = 'permitflow-archiver';

export type Secrets = z.infer<typeof secretsSchema>;

/** URL-safe random text, so secrets go into URLs unescaped. */
const token = (bytes = 24): string => randomBytes(bytes).toString('base64url');

/**
 * A Kafka cluster id is 16 random bytes in unpadded base64url. Like Kafka's own Uuid.randomUuid,
 * never one that starts with '-': command-line tools would read it as an option.
 */
export function kafkaClusterId(random: (bytes: number) => string = token): string {
  for (;;) {
    const id = random(16);
    if (!id.startsWith('-')) return id;
  }
}

const auditSigningKey = (): string => generateKeyPairSync('ed25519').privateKey.export({ format: 'der', type: 'pkcs8' }).toString('base64url');

/** The audit signing key and its public half, as the env file carries them. */
export function auditKeyEnv(secrets: Secrets): Record<string, string> {
  if (!secrets.auditSigningKey) return {};
  const publicKey = createPublicKey(createPrivateKey({ key: Buffer.from(secrets.auditSigningKey, 'base64'), format: 'der', type: 'pkcs8' }));
  return { AUDIT_SIGNING_KEY: secrets.auditSigningKey, AUDIT_PUBLIC_KEY: publicKey.export({ format: 'der', type: 'spki' }).toString('base64url') };
}

function generate(): Secrets {
  return {
    minioRootUser: `root-${randomBytes(4).toString('hex')}`,
    minioRootPassword: token(),
    s3AccessKeyId: 'permitflow-app',
    s3SecretAccessKey: token(),
    redisPassword: token(),
    postgresSuperPassword: token(),
    postgresPassword: token(),
    kafkaClusterId: kafkaClusterId(),
    auditSigningKey: auditSigningKey(),
    auditS3SecretAccessKey: token(),
  };
}

function store(file: string, secrets: Secrets): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(secrets, null, 2)}\n`, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
}

export const secretsFile = (stackDir: string): string => join(stackDir, 'secrets.json');

/** Reads the stack's secrets; with `create`, generates and stores them on first use. */
export function loadSecrets(stackDir: string, create: boolean): Secrets | undefined {
  const file = secretsFile(stackDir);
  if (existsSync(file)) {
    const parsed = secretsSchema.safeParse(JSON.parse(readFileSync(file, 'utf8')));
    if (!parsed.success) throw new StackError(`${file} is not a valid secrets file (${parsed.error.issues[0]?.message}); remove the stack folder with \`stack down --purge\` to start afresh`);
    // A stack from before the audit archive (or its own user) gets its key and secret; the other secrets must not change.
    if (create && (!parsed.data.auditSigningKey || !parsed.data.auditS3SecretAccessKey)) {
      const upgraded = { ...parsed.data, auditSigningKey: parsed.data.auditSigningKey ?? auditSigningKey(), auditS3SecretAccessKey: parsed.data.auditS3SecretAccessKey ?? token() };
      store(file, upgraded);
      return upgraded;
    }
    return parsed.data;
  }
  if (!create) return undefined;
  mkdirSync(stackDir, { recursive: true });
  const secrets = generate();
  store(file, secrets);
  return secrets;
}
